using Provisioner.Pxe.Tftp;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Pxe.Netns;

/// <summary>
/// The server side of a PXE network inside a namespace the test creates: Debian's dnsmasq as the site's DHCP
/// server (DHCP only: no DNS, no TFTP, no PXE options) and the real <c>provisioner serve</c> process with
/// <c>--tftp</c> and <c>--proxy-dhcp</c> on the same interface, 192.0.2.1/24 (TEST-NET-1, matching the example
/// profiles' provisionerUrl). The provisioner runs as its own process because only a process started inside the
/// namespace can bind its sockets there.
/// </summary>
internal sealed class PxeLab : IAsyncDisposable
{
    public const string ServerAddress = "192.0.2.1";
    public const int HttpPort = 8080;
    public const string RangeStart = "192.0.2.100", RangeEnd = "192.0.2.199";

    private readonly string _scratch;
    // The lab asks the operator API from the server's own address, not loopback: it needs the operator token.
    private readonly string _operatorTokenFile;

    public NetworkNamespace Namespace { get; }
    public string Interface { get; }
    public BackgroundProcess Dnsmasq { get; }
    public BackgroundProcess Provisioner { get; }

    private PxeLab(NetworkNamespace ns, string @interface, string scratch, BackgroundProcess dnsmasq, BackgroundProcess provisioner, string operatorTokenFile)
    {
        Namespace = ns;
        Interface = @interface;
        _scratch = scratch;
        _operatorTokenFile = operatorTokenFile;
        Dnsmasq = dnsmasq;
        Provisioner = provisioner;
    }

    /// <summary>
    /// Creates the namespace, lets <paramref name="addInterface"/> create <paramref name="interfaceName"/> in it
    /// (a veth end, a tap), gives it 192.0.2.1/24 and starts dnsmasq and the provisioner on it.
    /// </summary>
    public static async Task<PxeLab> StartAsync(ProfileTree tree, string interfaceName, Func<NetworkNamespace, Task> addInterface,
        IEnumerable<string>? extraServeArgs = null)
    {
        var ct = TestContext.Current.CancellationToken;
        var dnsmasq = Requires.Program("dnsmasq", "dnsmasq-base");
        var ipxe = IpxeBinaries.Find();
        Requires.Condition(ipxe.ContainsKey("undionly.kpxe") && ipxe.ContainsKey("ipxe.efi"), "the iPXE binaries are not installed (apt-get install ipxe)");
        var ns = await NetworkNamespace.CreateAsync("srv");
        var scratch = Directory.CreateTempSubdirectory("pxe-lab-").FullName;
        try
        {
            await addInterface(ns);
            await ns.IpAsync("addr", "add", ServerAddress + "/24", "dev", interfaceName);
            await ns.IpAsync("link", "set", interfaceName, "up");

            // --bind-interfaces makes dnsmasq share port 67 (SO_REUSEADDR, pinned to the interface), as it must
            // for any second DHCP listener on the same host; --no-ping skips its 3 s address probe per offer.
            var dhcp = ns.Start(dnsmasq, "--keep-in-foreground", "--log-facility=-", "--conf-file=/dev/null", "--port=0",
                $"--interface={interfaceName}", "--bind-interfaces", "--no-ping", "--log-dhcp",
                $"--dhcp-range={RangeStart},{RangeEnd},255.255.255.0,1h",
                $"--pid-file={Path.Combine(scratch, "dnsmasq.pid")}", $"--dhcp-leasefile={Path.Combine(scratch, "dnsmasq.leases")}");
            await dhcp.WaitForLineAsync(l => l.Contains("sockets bound exclusively to interface"), TimeSpan.FromSeconds(20), ct);

            var provisioner = ns.Start(DotnetHost(), [
                Path.Combine(AppContext.BaseDirectory, "provisioner.dll"), "serve",
                "--profiles", tree.Profiles, "--templates", tree.Templates, "--assets", tree.Assets,
                "--listen", $"{ServerAddress}:{HttpPort}", "--tftp", "0.0.0.0", "--proxy-dhcp", interfaceName,
                "--no-approver", // no Kubernetes API in the lab; the approver would only retry the example endpoint
                .. extraServeArgs ?? []]);
            await provisioner.WaitForLineAsync(l => l.Contains("Application started"), TimeSpan.FromSeconds(60), ct);
            return new PxeLab(ns, interfaceName, scratch, dhcp, provisioner,
                Path.Combine(Path.GetDirectoryName(Path.GetFullPath(tree.Profiles.TrimEnd('/')))!, "cluster", "auth", global::Provisioner.Api.OperatorCredential.FileName));
        }
        catch
        {
            await ns.DisposeAsync();
            Directory.Delete(scratch, recursive: true);
            throw;
        }
    }

    /// <summary>The dotnet host running this test, so the CLI runs on the same runtime.</summary>
    private static string DotnetHost() =>
        Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : Requires.Program("dotnet", "dotnet-sdk");

    /// <summary>GET from the provisioner over the namespace's network (curl inside it); the body's bytes.</summary>
    public async Task<byte[]> HttpGetAsync(string pathAndQuery)
    {
        var curl = Requires.Program("curl", "curl");
        var output = Path.Combine(_scratch, "http-" + Guid.NewGuid().ToString("N"));
        string[] auth = File.Exists(_operatorTokenFile)
            ? ["-H", "Authorization: Bearer " + (await File.ReadAllTextAsync(_operatorTokenFile, TestContext.Current.CancellationToken)).Trim()]
            : [];
        var result = await Namespace.RunAsync(curl, ["-sS", "--fail", "--max-time", "30", .. auth, "-o", output, $"http://{ServerAddress}:{HttpPort}{pathAndQuery}"]);
        Assert.True(result.ExitCode == 0, $"GET {pathAndQuery}: {result}");
        var body = await File.ReadAllBytesAsync(output, TestContext.Current.CancellationToken);
        File.Delete(output);
        return body;
    }

    /// <summary>What the provisioner logged about ProxyDHCP answers for one MAC, in order.</summary>
    public IReadOnlyList<string> ProxyDhcpAnswers(string mac) =>
        [.. Provisioner.Lines.Where(l => l.Contains("ProxyDHCP") && l.Contains(" from " + mac.ToLowerInvariant()))];

    public async ValueTask DisposeAsync()
    {
        await Namespace.DisposeAsync();
        Directory.Delete(_scratch, recursive: true);
    }
}
