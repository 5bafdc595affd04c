using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Provisioner.Cli;
using Provisioner.Tests.Approval;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.WebConsole;

/// <summary>
/// <c>provisioner status</c>, <c>wait-for cluster-ready</c> and <c>machines</c> against a running server. The golden
/// board is in <c>Golden/status.txt</c>; after an intended change regenerate it with
/// <c>UPDATE_GOLDEN=1 dotnet test tests/Provisioner.Tests -c Release --no-build --filter "FullyQualifiedName~ConsoleCliTests"</c>.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed partial class ConsoleCliTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<CliResult> RunAsync(params string[] args) => CliRun.RunAsync(args);

    private static string Url(RunningServer server) => server.BaseAddress.ToString().TrimEnd('/');

    [GeneratedRegex(@"last seen \S+ ago")]
    private static partial Regex LastSeen();
    [GeneratedRegex(@"(?<![\w:])\d\d:\d\d:\d\d(?![\w:])")]
    private static partial Regex Clock();
    [GeneratedRegex(@" +\d+[smhd](?:\d\d[smh])?(?= )")]
    private static partial Regex Age();

    /// <summary>Clock times and ages vary from run to run; masked to the same width so the table still lines up.</summary>
    private static string Mask(string text)
    {
        text = LastSeen().Replace(text, "last seen <age> ago");
        text = Clock().Replace(text, "hh:mm:ss");
        return Age().Replace(text, m => "AGE".PadLeft(m.Length));
    }

    [Fact]
    public async Task Status_prints_the_board_of_a_running_server()
    {
        using var tree = new ProfileTree();
        await using var server = await RunningServer.StartAsync(tree);
        (await server.Client.GetAsync("/ipxe?mac=52-54-00-00-30-01", Ct)).EnsureSuccessStatusCode();
        (await server.Client.GetAsync("/ipxe?mac=52-54-00-00-99-01", Ct)).EnsureSuccessStatusCode();
        var bootstrap = await server.RealConfigAsync("mac=52-54-00-00-10-01", Ct);
        await server.ReportAsync("bootstrap-0", SecureIgnition.ReportKeyIn(bootstrap), "bootkube.copy-static-pods", "done", Ct);

        var (exit, output, errors) = await RunAsync("status", "--server", Url(server));
        Assert.True(exit == 0, errors);
        var masked = Mask(output);
        var golden = Path.Combine(RepoPaths.Root, "tests", "Provisioner.Tests", "WebConsole", "Golden", "status.txt");
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(golden)!);
            await File.WriteAllTextAsync(golden, masked, Ct);
        }
        Assert.Equal(await File.ReadAllTextAsync(golden, Ct), masked);
    }

    [Fact]
    public async Task Machines_list_and_show_read_the_machine_api()
    {
        using var tree = new ProfileTree();
        await using var server = await RunningServer.StartAsync(tree);
        await server.RealConfigFromScriptAsync(await server.Client.GetStringAsync("/ipxe?mac=52-54-00-00-30-01", Ct), Ct);

        var (exit, list, _) = await RunAsync("machines", "list", "--server", Url(server));
        Assert.Equal(0, exit);
        Assert.Matches(@"(?m)^worker-0 +worker +ignition +provisioning +52:54:00:00:30:01 ", list);
        Assert.Matches(@"(?m)^cp-0 +control-plane +pending +ready ", list);

        var (shown, details, _) = await RunAsync("machines", "show", "worker-0", "--server", Url(server));
        Assert.Equal(0, shown);
        Assert.Contains("phase:     provisioning", details);
        Assert.Matches(@"deliveries:\n  \S+  ignition  to 127\.0\.0\.1", details);

        var (missing, _, error) = await RunAsync("machines", "show", "nope", "--server", Url(server));
        Assert.Equal(1, missing);
        Assert.Contains("no machine named 'nope' (machines: bootstrap-0, cp-0, worker-0)", error);
    }

    [Fact]
    public async Task Wait_for_cluster_ready_exits_zero_once_bootkube_completed_and_every_other_machine_is_provisioned()
    {
        await using var h = await ApproverHarness.CreateAsync("cp-0", "worker-0");
        await h.StartServerAsync();
        var waiting = RunAsync("wait-for", "cluster-ready", "--timeout", "60s", "--server", Url(h.Server));

        // The scripted bring-up: every machine fetches its Ignition, bootkube runs to the end, the nodes register.
        var key = SecureIgnition.ReportKeyIn(await h.FetchIgnitionAsync("bootstrap-0"));
        foreach (var machine in new[] { "cp-0", "worker-0" }) await h.FetchIgnitionAsync(machine);
        foreach (var stage in new[] { "wait-etcd", "wait-api", "apply-manifests", "complete" })
        {
            await h.Server.ReportAsync("bootstrap-0", key, "bootkube." + stage, "started", Ct);
            await h.Server.ReportAsync("bootstrap-0", key, "bootkube." + stage, "done", Ct);
        }
        Assert.False(waiting.IsCompleted, "wait-for returned before the nodes registered");
        await h.RegisterNodeAsync("cp-0", "192.0.2.21");
        await h.RegisterNodeAsync("worker-0", "192.0.2.50");

        var (exit, output, errors) = await waiting.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.True(exit == 0, errors);
        Assert.Contains("cluster demo is ready: 3 machine(s)", output);
        Assert.Contains("waiting: ", errors);
    }

    [Fact]
    public async Task Wait_for_cluster_ready_times_out_non_zero_with_the_reason()
    {
        using var tree = new ProfileTree();
        await using var server = await RunningServer.StartAsync(tree);
        await server.RealConfigFromScriptAsync(await server.Client.GetStringAsync("/ipxe?mac=52-54-00-00-30-01", Ct), Ct);

        var (exit, _, errors) = await RunAsync("wait-for", "cluster-ready", "--timeout", "2s", "--server", Url(server));

        Assert.Equal(1, exit);
        Assert.Contains("timed out after 2s: bootstrap-0 (bootstrap) has not reported bootkube.complete (last: pending); " +
                        "cp-0 is ready (last: pending); worker-0 is provisioning (last: ignition)", errors);
    }

    [Fact]
    public async Task Status_names_an_unreachable_server_in_one_line()
    {
        var (exit, _, errors) = await RunAsync("status", "--server", $"http://127.0.0.1:{FreePort.Tcp()}");
        Assert.Equal(1, exit);
        Assert.StartsWith("error: ", errors);
        Assert.Single(errors.TrimEnd().Split('\n'));
    }

    [Theory]
    [InlineData("30m", 1800)]
    [InlineData("90s", 90)]
    [InlineData("1h30m", 5400)]
    [InlineData("45", 45)]
    public void Timeouts_read_as_durations(string text, int seconds) =>
        Assert.Equal(TimeSpan.FromSeconds(seconds), StatusCommands.ParseDuration(text));
}
