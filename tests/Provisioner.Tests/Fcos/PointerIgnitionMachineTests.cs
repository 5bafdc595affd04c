using System.Net;
using System.Text;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Fcos;

/// <summary>
/// The real Ignition 2.14 (Debian's package, in a test machine from <c>../shared/machines</c>) against the pointer flow:
/// its fetch stage follows the pointer config, asking for spec 3.3 as it does, gets the real config over HTTPS trusting
/// only the CA the pointer pins, and its files stage writes it; a refused delivery (ticket used up: 410, no ticket:
/// 403) or a server the pinned CA did not certify makes that real Ignition fail, saying why. The server is a
/// hand-made pointer flow (<see cref="PointerOrigin"/>) on 127.0.0.1 (<c>MACHINES_NET=host</c>).
/// </summary>
[Trait(Category.Name, Category.Integration)]
[Trait(Category.Name, Category.Slow)]
[Collection(TestMachines.Collection)]
public sealed class PointerIgnitionMachineTests : IAsyncLifetime
{
    private const string ReportKey = "report-key-of-the-test-machine";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly string _name = "ptr-" + Guid.NewGuid().ToString("N")[..6];
    private readonly Dictionary<string, string> _env = new() { ["MACHINES_NET"] = "host" };
    private string _machines = null!;
    private PointerOrigin _origin = null!;

    /// <summary>Spec 3.3.0, the newest Ignition 2.14 reads, as the server negotiates for it.</summary>
    private static readonly string RealConfig = $$$"""
        {"ignition":{"version":"3.3.0"},"storage":{"files":[
          {"path":"/etc/provisioner/report-key","mode":384,"contents":{"source":"data:,{{{Uri.EscapeDataString(ReportKey + "\n")}}}"}},
          {"path":"/etc/provisioner/provisioner.env","mode":420,"contents":{"source":"data:;base64,{{{Convert.ToBase64String(Encoding.ASCII.GetBytes("PROVISIONER_MACHINE=worker-0\n"))}}}"}}]}}
        """;

    public async ValueTask InitializeAsync()
    {
        _machines = TestMachines.Directory();
        await TestMachines.EnsureGoldenAsync(_machines, Ct);
        _origin = await PointerOrigin.StartAsync(IPAddress.Loopback, RealConfig, Ct);
        _origin.AdvertisedHost = "127.0.0.1";
        _origin.PointerVersion = "3.3.0";
    }

    public async ValueTask DisposeAsync()
    {
        await Proc.RunAsync("bash", [Path.Combine(_machines, "rmmachine.sh"), _name], CancellationToken.None, _env);
        await _origin.DisposeAsync();
    }

    private Task<(int Exit, string Output)> MakeMachineAsync(string query) =>
        Proc.RunAsync("bash", [Path.Combine(_machines, "mkmachine.sh"), _name, _origin.PointerUrl(query)], Ct, _env);

    /// <summary>Ignition's own log of the machine's first boot (README of ../shared/machines).</summary>
    private Task<string> IgnitionLogAsync() =>
        File.ReadAllTextAsync(Path.Combine(TestMachines.Home, "machines", _name, "ign", "ignition.log"), Ct);

    [Fact]
    public async Task Ignition_follows_the_pointer_over_https_with_the_pinned_ca_and_writes_the_real_config()
    {
        _origin.Tickets.Add("T1");
        const string query = "mac=52-54-00-00-30-01&ticket=T1";

        var made = await MakeMachineAsync(query);

        Assert.True(made.Exit == 0, made.Output);
        var requests = _origin.Requests;
        Assert.Equal([(false, 200), (true, 200)], requests.Select(r => (r.Tls, r.Status)));
        // Ignition 2.14 asks for spec 3.3.0 on both fetches; the merge source is the pointer's query unchanged.
        Assert.All(requests, r => Assert.Equal("application/vnd.coreos.ignition+json;version=3.3.0, */*;q=0.1", r.Accept));
        Assert.Equal("/ignition?" + query, requests[1].PathAndQuery);
        var wait = await Proc.RunAsync("bash", [Path.Combine(_machines, "wait.sh"), _name, "60"], Ct, _env);
        Assert.True(wait.Exit == 0, wait.Output);
        var key = await Proc.RunAsync("bash", [Path.Combine(_machines, "enter.sh"), _name, "--", "stat", "-c", "%a %n", "/etc/provisioner/report-key"], Ct, _env);
        Assert.Equal("600 /etc/provisioner/report-key", key.Output.Trim());
        var content = await Proc.RunAsync("bash", [Path.Combine(_machines, "enter.sh"), _name, "--", "cat", "/etc/provisioner/report-key", "/etc/provisioner/provisioner.env"], Ct, _env);
        Assert.Equal(ReportKey + "\nPROVISIONER_MACHINE=worker-0\n", content.Output);
    }

    [Fact]
    public async Task A_used_up_ticket_makes_ignition_fail_with_410_and_the_servers_reason()
    {
        _origin.Tickets.Add("T2");
        using (var thief = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true }))
            Assert.Equal(HttpStatusCode.OK, (await thief.GetAsync($"https://127.0.0.1:{_origin.TlsPort}/ignition?ticket=T2", Ct)).StatusCode);

        var made = await MakeMachineAsync("mac=52-54-00-00-30-01&ticket=T2");

        Assert.NotEqual(0, made.Exit);
        Assert.Contains("ignition fetch failed", made.Output);
        // Ignition logs the status, not the body; the server's reason is in its own log and response.
        Assert.Contains("GET result: Gone", await IgnitionLogAsync());
        Assert.Equal(410, _origin.Requests.Last(r => r.Tls).Status);
    }

    [Fact]
    public async Task A_missing_ticket_makes_ignition_fail_with_403()
    {
        var made = await MakeMachineAsync("mac=52-54-00-00-30-01");

        Assert.NotEqual(0, made.Exit);
        Assert.Contains("ignition fetch failed", made.Output);
        Assert.Contains("GET result: Forbidden", await IgnitionLogAsync());
        Assert.Equal(403, _origin.Requests.Last(r => r.Tls).Status);
    }

    [Fact]
    public async Task A_server_the_pinned_ca_did_not_certify_makes_ignition_fail_on_the_certificate()
    {
        _origin.Tickets.Add("T4");
        _origin.PinnedCaPem = PointerOrigin.UnrelatedCaPem();
        // Ignition retries a failed TLS handshake until its stage times out: keep that short.
        _env["MACHINES_IGNITION_TIMEOUT"] = "20";

        var made = await MakeMachineAsync("mac=52-54-00-00-30-01&ticket=T4");

        Assert.NotEqual(0, made.Exit);
        Assert.Contains("ignition fetch failed", made.Output);
        Assert.Contains("x509: certificate signed by unknown authority", await IgnitionLogAsync());
        Assert.DoesNotContain(_origin.Requests, r => r.Tls);
    }
}
