using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Fcos;

/// <summary>
/// The real Ignition 2.14 (Debian's package, in a test machine from <c>../shared/machines</c>) against Provisioner's
/// pointer flow: its fetch stage follows the pointer plain HTTP serves, asking for spec 3.3 as it does, gets the real
/// config from the TLS listener trusting only the CA the pointer pins, and its files stage writes it (the report key
/// with mode 0600). A used-up ticket (410), a missing ticket (403) or a pointer pinning another CA makes that real
/// Ignition fail, saying why in its log. <c>MACHINES_NET=host</c>: one machine, the server on 127.0.0.1.
/// </summary>
[Trait(Category.Name, Category.Integration)]
[Trait(Category.Name, Category.Slow)]
[Collection(TestMachines.Collection)]
public sealed class PointerIgnitionMachineTests : IAsyncLifetime
{
    private const string Worker = "mac=52-54-00-00-30-01", WorkerName = "worker-0";
    /// <summary>What Ignition 2.14 sends: the newest spec it reads is 3.3.0.</summary>
    private const string Ignition214Accept = "application/vnd.coreos.ignition+json;version=3.3.0, */*;q=0.1";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly ProfileTree _tree = new();
    private readonly string _name = "ptr-" + Guid.NewGuid().ToString("N")[..6];
    private readonly Dictionary<string, string> _env = new() { ["MACHINES_NET"] = "host" };
    private string _machines = null!;
    private RunningServer? _running;

    private RunningServer Server => _running ?? throw new InvalidOperationException("the server starts in InitializeAsync");

    public async ValueTask InitializeAsync()
    {
        _machines = TestMachines.Directory();
        await TestMachines.EnsureGoldenAsync(_machines, Ct);
        // Machines reach the server at the address they used (127.0.0.1 here), which the TLS certificate names.
        _tree.Edit("cluster.yaml", "provisionerUrl: http://192.0.2.1:8080", "");
        _running = await RunningServer.StartAsync(_tree);
    }

    public async ValueTask DisposeAsync()
    {
        await Proc.RunAsync("bash", [Path.Combine(_machines, "rmmachine.sh"), _name], CancellationToken.None, _env);
        if (_running is not null) await _running.DisposeAsync();
        _tree.Dispose();
    }

    private Task<(int Exit, string Output)> MakeMachineAsync(Uri ignitionUrl) =>
        Proc.RunAsync("bash", [Path.Combine(_machines, "mkmachine.sh"), _name, ignitionUrl.ToString()], Ct, _env);

    /// <summary>Ignition's own log of the machine's first boot (README of ../shared/machines).</summary>
    private Task<string> IgnitionLogAsync() =>
        File.ReadAllTextAsync(Path.Combine(TestMachines.Home, "machines", _name, "ign", "ignition.log"), Ct);

    private async Task<string> InMachineAsync(params string[] command)
    {
        var (exit, output) = await Proc.RunAsync("bash", [Path.Combine(_machines, "enter.sh"), _name, "--", .. command], Ct, _env);
        Assert.True(exit == 0, $"{string.Join(' ', command)} exited {exit}:\n{output}");
        return output;
    }

    [Fact]
    public async Task Ignition_follows_the_pointer_over_tls_negotiating_3_3_and_its_files_stage_writes_the_real_config()
    {
        var url = await Server.IgnitionUrlAsync(Worker, Ct);

        var made = await MakeMachineAsync(url);

        Assert.True(made.Exit == 0, made.Output);
        var log = await IgnitionLogAsync();
        Assert.Contains($"GET {url}: attempt #1", log);
        Assert.Contains($"GET https://127.0.0.1:{Server.Server.TlsBaseAddress.Port}/ignition{url.Query}: attempt #1", log);
        // The server negotiated 3.3.0 for Ignition 2.14 on both fetches, and recorded the pointer, then the config over TLS.
        var history = (await Server.MachineAsync(WorkerName, Ct)).GetProperty("history").EnumerateArray()
            .Where(e => e.GetProperty("stage").GetString() == "ignition").Select(e => e.GetProperty("detail").GetString()).ToList();
        Assert.Equal(["spec 3.3.0, pointer", "spec 3.3.0, config over TLS"], history);

        var wait = await Proc.RunAsync("bash", [Path.Combine(_machines, "wait.sh"), _name, "120"], Ct, _env);
        Assert.True(wait.Exit == 0, wait.Output);
        Assert.Equal("600", (await InMachineAsync("stat", "-c", "%a", "/etc/provisioner/report-key")).Trim());
        Assert.Contains($"PROVISIONER_MACHINE={WorkerName}\n", await InMachineAsync("cat", "/etc/provisioner/provisioner.env"));
        // The key Ignition wrote is the one the server handed to this machine: its progress reports are accepted.
        var key = (await InMachineAsync("cat", "/etc/provisioner/report-key")).Trim();
        using var report = new HttpRequestMessage(HttpMethod.Post, "/api/v1/progress")
        {
            Content = new StringContent($$"""{"mac":"52:54:00:00:30:01","stage":"ignition-fetched"}""", Encoding.UTF8, "application/json"),
        };
        report.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var accepted = await Server.Client.SendAsync(report, Ct);
        Assert.True(accepted.IsSuccessStatusCode, $"{(int)accepted.StatusCode} {await accepted.Content.ReadAsStringAsync(Ct)}");
    }

    [Fact]
    public async Task A_ticket_used_up_by_someone_else_makes_ignition_fail_with_gone()
    {
        var url = await Server.IgnitionUrlAsync(Worker, Ct);
        // Someone at the same address took the config with the machine's ticket first.
        using (var first = await SecureIgnition.FetchMergedAsync(await Server.PointerAsync(url, Ct), Ct))
            Assert.Equal(HttpStatusCode.OK, first.StatusCode);

        var made = await MakeMachineAsync(url);

        Assert.NotEqual(0, made.Exit);
        Assert.Contains("ignition fetch failed", made.Output);
        // Ignition logs the status, not the body; the reason (when and to whom) is the server's answer and warning.
        Assert.Contains("GET result: Gone", await IgnitionLogAsync());
    }

    [Fact]
    public async Task A_missing_ticket_makes_ignition_fail_with_forbidden()
    {
        var withTicket = await Server.IgnitionUrlAsync(Worker, Ct);
        var withoutTicket = new Uri(withTicket.GetLeftPart(UriPartial.Path) + "?" + Worker);

        var made = await MakeMachineAsync(withoutTicket);

        Assert.NotEqual(0, made.Exit);
        Assert.Contains("ignition fetch failed", made.Output);
        Assert.Contains("GET result: Forbidden", await IgnitionLogAsync());
    }

    [Fact]
    public async Task A_pointer_pinning_another_ca_makes_ignition_fail_on_the_certificate_and_releases_nothing()
    {
        var url = await Server.IgnitionUrlAsync(Worker, Ct);
        var pointer = await Server.PointerAsync(url, Ct, Ignition214Accept);
        // The pointer as a stale or forged copy would have it: Provisioner's merge URL, someone else's CA.
        var forged = JsonNode.Parse(pointer.Json)!;
        forged["ignition"]!["security"]!["tls"]!["certificateAuthorities"]![0]!["source"] =
            "data:;base64," + Convert.ToBase64String(Encoding.ASCII.GetBytes(PointerOrigin.UnrelatedCaPem()));
        await using var origin = await PointerOrigin.StartAsync(IPAddress.Loopback, "{}", Ct);
        origin.PointerOverride = forged.ToJsonString();
        // Ignition retries a failed TLS handshake until its stage times out: keep that short.
        _env["MACHINES_IGNITION_TIMEOUT"] = "20";

        var made = await MakeMachineAsync(new Uri($"http://127.0.0.1:{origin.HttpPort}/ignition{url.Query}"));

        Assert.NotEqual(0, made.Exit);
        Assert.Contains("ignition fetch failed", made.Output);
        var log = await IgnitionLogAsync();
        Assert.True(log.Contains("x509: certificate signed by unknown authority", StringComparison.Ordinal), log);
        // Nothing was released: the ticket still gets the machine its config.
        using var afterwards = await SecureIgnition.FetchMergedAsync(pointer, Ct);
        Assert.Equal(HttpStatusCode.OK, afterwards.StatusCode);
    }
}
