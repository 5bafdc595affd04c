using Provisioner.Tests.Pxe.Netns;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Security;

/// <summary>
/// A ticket is worth nothing from another address: the real <c>provisioner serve</c> in one network namespace, the
/// machine asking /ipxe from its own address, an attacker in a second namespace replaying the ticket with curl.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class TicketAddressTests
{
    private const string ServerAddress = "198.51.100.1", MachineAddress = "198.51.100.2", AttackerAddress = "198.51.100.3";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_ticket_replayed_from_another_address_is_403_and_the_machine_still_gets_its_config()
    {
        using var tree = new ProfileTree();
        tree.Edit("cluster.yaml", "provisionerUrl: http://192.0.2.1:8080", $"provisionerUrl: http://{ServerAddress}:8080");
        await using var server = await NetworkNamespace.CreateAsync("tks");
        await using var machine = await NetworkNamespace.CreateAsync("tkm");
        await using var attacker = await NetworkNamespace.CreateAsync("tka");
        await server.AddVethAsync("tks0", machine, "tkm0");
        await server.AddVethAsync("tks1", attacker, "tka0");
        // One subnet for both peers: the server's two veth ends join a bridge that holds its address.
        await server.IpAsync("link", "add", "tkbr", "type", "bridge");
        await server.IpAsync("link", "set", "tks0", "master", "tkbr");
        await server.IpAsync("link", "set", "tks1", "master", "tkbr");
        await server.IpAsync("addr", "add", ServerAddress + "/24", "dev", "tkbr");
        await server.IpAsync("link", "set", "tkbr", "up");
        await machine.IpAsync("addr", "add", MachineAddress + "/24", "dev", "tkm0");
        await attacker.IpAsync("addr", "add", AttackerAddress + "/24", "dev", "tka0");

        var clusterDir = Path.Combine(tree.Root, "cluster");
        var dotnet = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : Requires.Program("dotnet", "dotnet-sdk");
        var serve = server.Start(dotnet, Path.Combine(AppContext.BaseDirectory, "provisioner.dll"), "serve",
            "--profiles", tree.Profiles, "--templates", tree.Templates, "--assets", tree.Assets, "--cluster-dir", clusterDir,
            "--listen", $"{ServerAddress}:8080", "--no-approver");
        await serve.WaitForLineAsync(l => l.Contains("Application started"), TimeSpan.FromSeconds(60), Ct);
        var ca = Path.Combine(clusterDir, "tls", "provisioner-ca.crt");

        var (_, script) = await NamespacedCurl.GetAsync(machine, $"http://{ServerAddress}:8080/ipxe?mac=52-54-00-00-30-01");
        var ticketed = System.Text.RegularExpressions.Regex.Match(script, @"(?:ignition\.config\.url|coreos\.inst\.ignition_url)=(\S+)").Groups[1].Value;
        var merge = new Uri(ticketed.Replace($"http://{ServerAddress}:8080", $"https://{ServerAddress}:8443", StringComparison.Ordinal));

        var stolen = await NamespacedCurl.GetAsync(attacker, merge.ToString(), "--cacert", ca);
        var delivered = await NamespacedCurl.GetAsync(machine, merge.ToString(), "--cacert", ca);

        Assert.Equal(403, stolen.Status);
        Assert.Contains($"issued to {MachineAddress}", stolen.Body);
        Assert.Contains("bindTicketToAddress: false", stolen.Body);
        Assert.Equal(200, delivered.Status);
        Assert.Contains("/etc/provisioner/report-key", delivered.Body);
    }
}
