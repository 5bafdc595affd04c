using Provisioner.Api;
using Provisioner.Tests.Pxe.Netns;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Security;

/// <summary>
/// The operator API as an attacker on the provisioning network meets it: the real <c>provisioner serve</c> in a
/// network namespace the test creates, asked with curl from a second namespace over a veth pair (not loopback).
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class OperatorAccessTests
{
    private const string ServerAddress = "198.51.100.1", ClientAddress = "198.51.100.2";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed record Lab(NetworkNamespace Server, NetworkNamespace Client, string ClusterDirectory) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await Client.DisposeAsync();
            await Server.DisposeAsync();
        }
    }

    private static async Task<Lab> StartAsync(ProfileTree tree)
    {
        var server = await NetworkNamespace.CreateAsync("ops");
        var client = await NetworkNamespace.CreateAsync("opc");
        await server.AddVethAsync("ops0", client, "opc0");
        await server.IpAsync("addr", "add", ServerAddress + "/24", "dev", "ops0");
        await client.IpAsync("addr", "add", ClientAddress + "/24", "dev", "opc0");
        var clusterDir = Path.Combine(tree.Root, "cluster");
        var dotnet = Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : Requires.Program("dotnet", "dotnet-sdk");
        var serve = server.Start(dotnet, Path.Combine(AppContext.BaseDirectory, "provisioner.dll"), "serve",
            "--profiles", tree.Profiles, "--templates", tree.Templates, "--assets", tree.Assets, "--cluster-dir", clusterDir,
            "--listen", $"{ServerAddress}:8080", "--listen", "127.0.0.1:8080", "--no-approver");
        await serve.WaitForLineAsync(l => l.Contains("Application started"), TimeSpan.FromSeconds(60), Ct);
        return new Lab(server, client, clusterDir);
    }

    [Fact]
    public async Task Machine_list_from_the_network_needs_the_operator_token_and_loopback_does_not()
    {
        using var tree = new ProfileTree();
        await using var lab = await StartAsync(tree);
        var token = (await File.ReadAllTextAsync(Path.Combine(lab.ClusterDirectory, "auth", OperatorCredential.FileName), Ct)).Trim();
        var machines = $"http://{ServerAddress}:8080/api/v1/machines";

        var anonymous = await NamespacedCurl.GetAsync(lab.Client, machines);
        var forged = await NamespacedCurl.GetAsync(lab.Client, machines, "-H", "Authorization: Bearer " + new string('0', 64));
        var authorized = await NamespacedCurl.GetAsync(lab.Client, machines, "-H", "Authorization: Bearer " + token);
        var local = await NamespacedCurl.GetAsync(lab.Server, "http://127.0.0.1:8080/api/v1/machines");
        var machineFacing = await NamespacedCurl.GetAsync(lab.Client, $"http://{ServerAddress}:8080/ipxe?mac=52-54-00-00-30-01");

        Assert.Equal(401, anonymous.Status);
        Assert.Contains("operator token", anonymous.Body);
        Assert.DoesNotContain("52:54:00", anonymous.Body);
        Assert.Equal(401, forged.Status);
        Assert.Equal(200, authorized.Status);
        Assert.Contains("52:54:00:00:30:01", authorized.Body);
        Assert.Equal(200, local.Status);
        Assert.Equal(200, machineFacing.Status);
        foreach (var path in new[] { "/api/v1/approver", "/api/v1/console", "/api/v1/events" })
        {
            var (status, body) = await NamespacedCurl.GetAsync(lab.Client, $"http://{ServerAddress}:8080{path}");
            Assert.True(status == 401, $"{path}: {status} {body}");
        }
        var reprovision = await NamespacedCurl.GetAsync(lab.Client, $"http://{ServerAddress}:8080/api/v1/machines/worker-0/reprovision",
            "-X", "POST", "-H", "Content-Type: application/json", "-d", "{}");
        Assert.Equal(401, reprovision.Status);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite,
            File.GetUnixFileMode(Path.Combine(lab.ClusterDirectory, "auth", OperatorCredential.FileName)));
    }
}
