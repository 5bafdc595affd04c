using Provisioner.Cli;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Cluster;

/// <summary><c>provisioner render</c>: writes the cluster directory, idempotently, and never replaces a CA.</summary>
public sealed class RenderCommandTests : IDisposable
{
    private readonly ProfileTree _tree = new();
    private string Out => Path.Combine(_tree.Root, "out");
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _tree.Dispose();

    private Task<CliResult> RenderAsync() => CliRun.RunAsync(["render", "--profiles", _tree.Profiles, "--out", Out]);

    private Dictionary<string, (string Content, DateTime Mtime, UnixFileMode Mode)> Snapshot() =>
        Directory.EnumerateFiles(Out, "*", SearchOption.AllDirectories).ToDictionary(
            f => Path.GetRelativePath(Out, f),
            f => (File.ReadAllText(f), File.GetLastWriteTimeUtc(f), File.GetUnixFileMode(f)));

    [Fact]
    public async Task Writes_auth_tls_static_pods_manifests_and_every_machines_ignition()
    {
        var (exit, output, errors) = await RenderAsync();
        Assert.True(exit == 0, errors);
        Assert.Contains("ok: ", output);
        foreach (var file in new[]
                 {
                     "auth/admin.kubeconfig", "auth/controller-manager.kubeconfig", "auth/scheduler.kubeconfig",
                     "auth/provisioner-approver.kubeconfig", "auth/bootstrap-tokens.json", "tls/ca.crt", "tls/ca.key",
                     "tls/etcd/cp-0/server.crt", "bootstrap-manifests/kube-apiserver.yaml", "control-plane/cp-0/etcd.yaml",
                     "manifests/0001-bootstrap-tokens.yaml", "ignition/bootstrap-0.ign", "ignition/cp-0.ign", "ignition/worker-0.ign",
                 })
            Assert.True(File.Exists(Path.Combine(Out, file)), $"{file} was not rendered");
        var snapshot = Snapshot();
        Assert.All(snapshot.Where(f => f.Key.EndsWith(".key", StringComparison.Ordinal) || f.Key.StartsWith("auth/", StringComparison.Ordinal)
                                       || f.Key.StartsWith("ignition/", StringComparison.Ordinal) || f.Key.EndsWith("bootstrap-tokens.yaml", StringComparison.Ordinal)),
            f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, f.Value.Mode));
        Assert.DoesNotContain(snapshot.Keys, k => k.EndsWith(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_second_run_changes_no_file()
    {
        Assert.Equal(0, (await RenderAsync()).Exit);
        FileTimes.AgeEveryFile(Out); // a rewrite would show in the mtime
        var before = Snapshot();
        var (exit, output, _) = await RenderAsync();
        Assert.Equal(0, exit);
        Assert.Contains(" 0 written,", output);
        var after = Snapshot();
        Assert.Equal(before.Keys.Order(), after.Keys.Order());
        foreach (var (file, state) in before)
            Assert.True(state == after[file], $"{file} changed on a second render");
    }

    [Fact]
    public async Task Rerender_after_a_profile_change_keeps_the_cas_and_the_tokens()
    {
        Assert.Equal(0, (await RenderAsync()).Exit);
        var before = Snapshot();
        _tree.Edit("cluster.yaml", "apiVip: 192.0.2.10", "apiVip: 192.0.2.11");
        var (exit, output, _) = await RenderAsync();
        Assert.Equal(0, exit);
        Assert.Contains("tls apiserver: reissued (subject alternative names differ)", output);
        var after = Snapshot();
        foreach (var ca in new[] { "tls/ca.crt", "tls/ca.key", "tls/etcd/ca.crt", "tls/etcd/ca.key", "tls/front-proxy-ca.key", "tls/sa.key", "auth/bootstrap-tokens.json" })
            Assert.True(before[ca] == after[ca], $"{ca} changed");
        Assert.NotEqual(before["tls/apiserver.crt"].Content, after["tls/apiserver.crt"].Content);
        Assert.Equal(before["manifests/0001-bootstrap-tokens.yaml"], after["manifests/0001-bootstrap-tokens.yaml"]);
    }

    [Fact]
    public async Task A_removed_machine_loses_its_generated_files()
    {
        Assert.Equal(0, (await RenderAsync()).Exit);
        _tree.Write("extra.yaml", "machines:\n  - name: worker-1\n    role: worker\n    select: {mac: 52:54:00:00:30:11}\n");
        Assert.Equal(0, (await RenderAsync()).Exit);
        Assert.True(File.Exists(Path.Combine(Out, "ignition/worker-1.ign")));
        File.Delete(_tree.ProfileFile("extra.yaml"));
        var (exit, output, _) = await RenderAsync();
        Assert.Equal(0, exit);
        Assert.Contains("removed ignition/worker-1.ign", output);
        Assert.False(File.Exists(Path.Combine(Out, "ignition/worker-1.ign")));
    }

    [Fact]
    public async Task A_ca_certificate_without_its_key_is_one_line_error_and_nothing_is_replaced()
    {
        Assert.Equal(0, (await RenderAsync()).Exit);
        var ca = File.ReadAllText(Path.Combine(Out, "tls/ca.crt"));
        File.Delete(Path.Combine(Out, "tls/ca.key"));
        var (exit, _, errors) = await RenderAsync();
        Assert.Equal(1, exit);
        Assert.StartsWith("error: CA certificate ", errors);
        Assert.Single(errors.TrimEnd('\n').Split('\n'));
        Assert.Equal(ca, File.ReadAllText(Path.Combine(Out, "tls/ca.crt")));
    }

    [Fact]
    public async Task Two_bootstrap_machines_without_control_plane_machines_are_rejected_clearly()
    {
        _tree.Edit("machines.yaml", "role: control-plane", "role: bootstrap");
        var (exit, _, errors) = await RenderAsync();
        Assert.Equal(1, exit);
        Assert.Contains("single bootstrap machine, but there are 2 (bootstrap-0, cp-0)", errors);
        Assert.DoesNotContain("   at ", errors);
    }
}
