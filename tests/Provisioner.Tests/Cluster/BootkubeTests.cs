using System.Diagnostics;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Cluster;

/// <summary>
/// The rendered bootkube.sh, as served to the bootstrap machine, run with bash in dry-run mode in a temp
/// directory: stage order, resume after a crash, progress reported to the real server; and shellcheck.
/// </summary>
public sealed class BootkubeTests : IAsyncLifetime
{
    private static readonly string[] Stages =
        ["copy-static-pods", "wait-etcd", "wait-api", "apply-manifests", "wait-control-plane", "label-control-plane", "teardown", "complete"];

    private readonly ProfileTree _tree = new();
    private RunningServer _server = null!;
    private string Work => Path.Combine(_tree.Root, "bootkube");
    private string State => Path.Combine(Work, "state");
    private string StaticPods => Path.Combine(Work, "static-pods");
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        // Without a configured provisionerUrl the served script reports to the address it was fetched from: this server.
        _tree.Edit("cluster.yaml", "provisionerUrl: http://192.0.2.1:8080", "");
        _server = await RunningServer.StartAsync(_tree);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _tree.Dispose();
    }

    /// <summary>Writes the served bootstrap Ignition's /opt/provisioner tree and bootkube.sh below <see cref="Work"/>.</summary>
    private async Task<string> UnpackBootstrapAsync(string mac = "52:54:00:00:10:01")
    {
        var files = IgnitionFiles.Decode(await _server.RealConfigAsync($"mac={mac}", Ct));
        Directory.CreateDirectory(Work);
        await File.WriteAllTextAsync(Path.Combine(Work, "report-key"), files["/etc/provisioner/report-key"].Text, Ct);
        foreach (var file in files.Values.Where(f => f.Path.StartsWith("/opt/provisioner/", StringComparison.Ordinal)))
        {
            var target = Path.Combine(Work, "assets", file.Path["/opt/provisioner/".Length..]);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await File.WriteAllTextAsync(target, file.Text, Ct);
        }
        var script = Path.Combine(Work, "bootkube.sh");
        await File.WriteAllTextAsync(script, files["/usr/local/bin/bootkube.sh"].Text, Ct);
        return script;
    }

    private async Task<(int Exit, string Stderr)> RunAsync(string script, string? failAt = null)
    {
        var psi = new ProcessStartInfo("bash", [script]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.Environment["BOOTKUBE_DRY_RUN"] = "1";
        psi.Environment["BOOTKUBE_ASSET_DIR"] = Path.Combine(Work, "assets");
        psi.Environment["BOOTKUBE_STATE_DIR"] = State;
        psi.Environment["BOOTKUBE_STATIC_POD_DIR"] = StaticPods;
        psi.Environment["BOOTKUBE_RETRY_DELAY"] = "0";
        psi.Environment["BOOTKUBE_REPORT_KEY_FILE"] = Path.Combine(Work, "report-key");
        if (failAt is not null) psi.Environment["BOOTKUBE_DRY_RUN_FAIL_AT"] = failAt;
        using var process = Process.Start(psi)!;
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        await stdout;
        return (process.ExitCode, await stderr);
    }

    private string[] Lines(string file) => File.Exists(Path.Combine(State, file)) ? File.ReadAllLines(Path.Combine(State, file)) : [];

    [Fact]
    public async Task Dry_run_runs_every_stage_in_order_and_records_instead_of_acting()
    {
        var script = await UnpackBootstrapAsync();
        var (exit, stderr) = await RunAsync(script);
        Assert.True(exit == 0, stderr);
        Assert.Equal(Stages, Lines("stages.log"));
        Assert.All(Stages, s => Assert.True(File.Exists(Path.Combine(State, s + ".done")), s));
        Assert.False(Directory.Exists(StaticPods), "a dry run must not touch the static pod directory");

        var commands = Lines("dry-run.log");
        var copies = commands.Where(c => c.StartsWith("cp ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, copies.Count);
        Assert.Contains(copies, c => c.EndsWith($"kube-apiserver.yaml {StaticPods}/", StringComparison.Ordinal));
        Assert.Contains(commands, c => c.StartsWith("curl ", StringComparison.Ordinal) && c.Contains("https://192.0.2.21:2379/health", StringComparison.Ordinal)
                                       && c.Contains("apiserver-etcd-client.crt", StringComparison.Ordinal));
        var applied = commands.Where(c => c.Contains(" apply -f ", StringComparison.Ordinal)).Select(c => Path.GetFileName(c.Split(' ')[^1])).ToList();
        Assert.Equal("0000-namespaces.yaml", applied[0]);
        Assert.Equal(Directory.GetFiles(Path.Combine(Work, "assets", "manifests")).Select(Path.GetFileName).Order(StringComparer.Ordinal), applied);
        Assert.All(commands.Where(c => c.StartsWith("kubectl ", StringComparison.Ordinal)), c => Assert.Contains("--server https://127.0.0.1:6443", c));
        Assert.Contains(commands, c => c.Contains("wait --for=condition=Ready pod/kube-apiserver-cp-0", StringComparison.Ordinal));
        Assert.Contains(commands, c => c.Contains("label node cp-0 node-role.kubernetes.io/control-plane=", StringComparison.Ordinal));
        var teardown = commands.Where(c => c.StartsWith("mv ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, teardown.Count);
        Assert.True(commands.ToList().IndexOf(teardown[0]) > commands.ToList().FindLastIndex(c => c.Contains(" wait ", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_run_stopped_before_a_stage_resumes_there_without_repeating_finished_stages()
    {
        var script = await UnpackBootstrapAsync();
        var (exit, _) = await RunAsync(script, failAt: "apply-manifests");
        Assert.Equal(75, exit);
        Assert.Equal(Stages[..3], Lines("stages.log"));
        var firstRun = Lines("dry-run.log").Length;
        Assert.DoesNotContain(Lines("dry-run.log"), c => c.Contains(" apply -f ", StringComparison.Ordinal));

        var (again, stderr) = await RunAsync(script);
        Assert.True(again == 0, stderr);
        Assert.Equal(Stages, Lines("stages.log"));
        var secondRun = Lines("dry-run.log")[firstRun..];
        Assert.DoesNotContain(secondRun, c => c.StartsWith("cp ", StringComparison.Ordinal));
        Assert.DoesNotContain(secondRun, c => c.Contains("/health", StringComparison.Ordinal));
        Assert.Contains(secondRun, c => c.Contains(" apply -f ", StringComparison.Ordinal));
        Assert.Contains("stage copy-static-pods: already done", stderr);

        var before = Lines("dry-run.log").Length;
        var (third, _) = await RunAsync(script);
        Assert.Equal(0, third);
        Assert.Equal(before, Lines("dry-run.log").Length); // everything done: nothing to run
        Assert.Equal(Stages, Lines("stages.log"));
    }

    [Fact]
    public async Task Each_stage_is_reported_to_the_provisioner_and_shows_in_the_machines_api()
    {
        var script = await UnpackBootstrapAsync();
        var (exit, stderr) = await RunAsync(script);
        Assert.True(exit == 0, stderr);
        Assert.DoesNotContain("could not report", stderr);
        var machine = await _server.MachineAsync("bootstrap-0", Ct);
        var history = machine.GetProperty("history").EnumerateArray()
            .Select(e => $"{e.GetProperty("stage").GetString()} {e.GetProperty("detail").GetString()}").ToList();
        foreach (var stage in Stages)
            Assert.True(history.IndexOf($"bootkube.{stage} started") < history.IndexOf($"bootkube.{stage} done") && history.Contains($"bootkube.{stage} done"), stage);
        Assert.Equal("bootkube.complete", machine.GetProperty("history").EnumerateArray().Last().GetProperty("stage").GetString());
    }

    [Fact]
    public async Task Rendered_script_is_shellcheck_clean_for_both_topologies()
    {
        var shellcheck = Requires.Program("shellcheck", "shellcheck");
        var scripts = new List<string> { await UnpackBootstrapAsync() };
        using var single = await RenderedCluster.CreateAsync(tree => tree.Edit("machines.yaml", "role: control-plane", "role: worker"));
        var singleScript = Path.Combine(single.Tree.Root, "single-bootkube.sh");
        await File.WriteAllTextAsync(singleScript, IgnitionFiles.Decode(single.Read("ignition/bootstrap-0.ign"))["/usr/local/bin/bootkube.sh"].Text, Ct);
        scripts.Add(singleScript);
        foreach (var script in scripts)
        {
            var psi = new ProcessStartInfo(shellcheck, ["--shell=bash", "--severity=style", script]) { RedirectStandardOutput = true, UseShellExecute = false };
            using var process = Process.Start(psi)!;
            var output = await process.StandardOutput.ReadToEndAsync(Ct);
            await process.WaitForExitAsync(Ct);
            Assert.True(process.ExitCode == 0, output);
        }
    }
}
