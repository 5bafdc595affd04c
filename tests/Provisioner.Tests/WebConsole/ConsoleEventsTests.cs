using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Provisioner.Tests.Approval;
using Provisioner.Tests.Support;
using Provisioner.WebConsole;

namespace Provisioner.Tests.WebConsole;

/// <summary>The console's change feed (<c>GET /api/v1/events</c>) and page against the real server.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class ConsoleEventsTests : IAsyncLifetime
{
    private readonly ProfileTree _tree = new();
    private RunningServer _server = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() =>
        _server = await RunningServer.StartAsync(_tree, o => o with { Console = new ConsoleOptions { KeepAlive = TimeSpan.FromMilliseconds(300) } });

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _tree.Dispose();
    }

    private ConsoleEvents Events => _server.Server.Services.GetRequiredService<ConsoleEvents>();

    private async Task WaitForSubscribersAsync(int count) =>
        await ApproverHarness.Eventually(() => Events.SubscriberCount == count, $"{count} console subscriber(s) (have {Events.SubscriberCount})");

    [Fact]
    public async Task Fifty_clients_get_the_snapshot_on_connect_and_every_change_and_leaving_frees_their_subscriptions()
    {
        var clients = await Task.WhenAll(Enumerable.Range(0, 50).Select(_ => SseClient.OpenAsync(_server.Client, Ct)));
        var first = await Task.WhenAll(clients.Select(c => c.NextSnapshotAsync(Ct)));
        Assert.All(first, s =>
        {
            Assert.Equal("demo", s.GetProperty("cluster").GetString());
            Assert.Equal(["bootstrap-0", "cp-0", "worker-0"], s.GetProperty("machines").EnumerateArray().Select(m => m.GetProperty("name").GetString()));
            Assert.Equal(600, s.GetProperty("stuckAfterSeconds").GetDouble());
            Assert.Equal("disabled", s.GetProperty("approver").GetProperty("state").GetString());
        });
        await WaitForSubscribersAsync(50);

        (await _server.Client.GetAsync("/ipxe?mac=52-54-00-00-30-01", Ct)).EnsureSuccessStatusCode();
        var changed = await Task.WhenAll(clients.Select(c => c.SnapshotWhereAsync(
            s => SseClient.Machine(s, "worker-0").GetProperty("state").GetString() == "ipxe", TimeSpan.FromSeconds(10), Ct)));
        Assert.All(changed, s => Assert.Equal("ipxe", SseClient.Machine(s, "worker-0").GetProperty("timeline")[0].GetProperty("stage").GetString()));

        foreach (var c in clients) await c.DisposeAsync();
        await WaitForSubscribersAsync(0);
    }

    [Fact]
    public async Task A_client_that_never_reads_does_not_delay_the_others()
    {
        // A raw connection with a tiny receive window that sends its request and then never reads a byte.
        using var stalled = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { ReceiveBufferSize = 1024 };
        await stalled.ConnectAsync(_server.BaseAddress.Host, _server.BaseAddress.Port, Ct);
        await stalled.SendAsync(Encoding.ASCII.GetBytes($"GET /api/v1/events HTTP/1.1\r\nHost: {_server.BaseAddress.Authority}\r\n\r\n"), Ct);
        await WaitForSubscribersAsync(1);
        await using var reader = await SseClient.OpenAsync(_server.Client, Ct);
        await reader.NextSnapshotAsync(Ct);

        // Large snapshots (1 KiB details in every history entry), one per step: far more than the stalled
        // client's window and the server's buffers for it hold, so its writer blocks while the reader must not.
        var detail = new string('x', 1000);
        var key = SecureIgnition.ReportKeyIn(await _server.RealConfigAsync("mac=52-54-00-00-10-01", Ct));
        var slowest = TimeSpan.Zero;
        for (var i = 0; i < 40; i++)
        {
            var started = Stopwatch.GetTimestamp();
            await _server.ReportAsync("bootstrap-0", key, $"step-{i}", detail, Ct);
            await reader.SnapshotWhereAsync(s => SseClient.Machine(s, "bootstrap-0").GetProperty("state").GetString() == $"step-{i}", TimeSpan.FromSeconds(5), Ct);
            var took = Stopwatch.GetElapsedTime(started);
            if (took > slowest) slowest = took;
        }
        // Debounced to 250 ms, so each step takes about that; a reader held back by the stalled one would time out above.
        Assert.True(slowest < TimeSpan.FromSeconds(3), $"slowest step took {slowest}");
        Assert.Equal(2, Events.SubscriberCount);

        stalled.Close();
        await reader.DisposeAsync();
        await WaitForSubscribersAsync(0);
    }

    [Fact]
    public async Task An_idle_stream_gets_keep_alive_comments_and_a_reconnect_delay()
    {
        await using var client = await SseClient.OpenAsync(_server.Client, Ct);
        Assert.Equal("retry: 2000", await client.NextLineAsync(Ct));
        await client.NextSnapshotAsync(Ct);
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        cts.CancelAfter(TimeSpan.FromSeconds(5));
        while (await client.NextLineAsync(cts.Token) != ": keep-alive") { }
    }

    [Fact]
    public async Task The_page_and_its_assets_are_served_from_the_program_with_a_strict_policy()
    {
        using var page = await _server.Client.GetAsync("/", Ct);
        page.EnsureSuccessStatusCode();
        Assert.Equal("text/html", page.Content.Headers.ContentType?.MediaType);
        var html = await page.Content.ReadAsStringAsync(Ct);
        Assert.Contains("/console/console.js", html);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org", "", StringComparison.Ordinal));
        Assert.Contains("script-src 'self'", page.Headers.GetValues("Content-Security-Policy").Single());

        using var script = await _server.Client.GetAsync("/console/console.js", Ct);
        Assert.Equal("text/javascript", script.Content.Headers.ContentType?.MediaType);
        using var again = new HttpRequestMessage(HttpMethod.Get, "/console/console.js");
        again.Headers.IfNoneMatch.Add(script.Headers.ETag!);
        Assert.Equal(System.Net.HttpStatusCode.NotModified, (await _server.Client.SendAsync(again, Ct)).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, (await _server.Client.GetAsync("/console/nope.js", Ct)).StatusCode);
    }

    [Fact]
    public async Task A_discovered_machine_comes_with_the_profile_entry_that_adopts_it()
    {
        (await _server.Client.GetAsync("/ipxe?mac=52-54-00-00-99-07", Ct)).EnsureSuccessStatusCode();
        using var doc = JsonDocument.Parse(await _server.Client.GetStringAsync("/api/v1/console", Ct));
        var discovered = Assert.Single(doc.RootElement.GetProperty("discovered").EnumerateArray());
        Assert.Equal("52:54:00:00:99:07", discovered.GetProperty("mac").GetString());
        var yaml = discovered.GetProperty("adoptYaml").GetString()!;
        Assert.Contains("machines:\n  - name: NAME", yaml);
        Assert.Contains("role: ROLE          # bootstrap | control-plane | worker", yaml);
        Assert.Contains("    select:\n      mac: 52:54:00:00:99:07\n", yaml);

        // The snippet really adopts it: pasted with a name and role, the profiles load and match the MAC.
        _tree.Write("adopted.yaml", yaml.Replace("NAME", "worker-9").Replace("ROLE", "worker"));
        var profiles = Provisioner.Profiles.ProfileLoader.Load(_tree.Sources);
        Assert.Equal("worker-9", Provisioner.Profiles.MachineMatcher.Match(profiles,
            new Provisioner.Profiles.MachineQuery(Provisioner.Profiles.MacAddress.Parse("52:54:00:00:99:07"), null, null, null))?.Machine.Name);
    }
}
