using System.Diagnostics;
using k8s;
using k8s.Models;

namespace Provisioner.Tests.Cluster;

/// <summary>With no control-plane machine the bootstrap machine runs etcd locally and stays the control plane.</summary>
public sealed class SingleMachineTests(SingleMachineClusterFixture rendered) : IClassFixture<SingleMachineClusterFixture>
{
    private readonly RenderedCluster _cluster = rendered.Cluster;

    private static string Flag(V1Pod pod, string name) =>
        pod.Spec.Containers[0].Command.Single(c => c.StartsWith($"--{name}=", StringComparison.Ordinal))[(name.Length + 3)..];

    private V1Pod Pod(string file) => Assert.IsType<V1Pod>(Assert.Single(KubernetesYaml.LoadAllFromString(_cluster.Read(file))));

    [Fact]
    public void Bootstrap_machine_runs_a_local_etcd_and_the_permanent_control_plane()
    {
        var etcd = Pod("bootstrap-manifests/etcd.yaml");
        Assert.Equal("bootstrap-0=https://192.0.2.20:2380", Flag(etcd, "initial-cluster"));
        var api = Pod("bootstrap-manifests/kube-apiserver.yaml");
        Assert.Equal("kube-apiserver", api.Metadata.Name);
        Assert.Equal("https://127.0.0.1:2379", Flag(api, "etcd-servers"));
        Assert.False(Directory.Exists(_cluster["control-plane"]));
    }

    [Fact]
    public void Bootstrap_machine_gets_its_etcd_keys_and_joins_with_its_own_token()
    {
        var files = IgnitionFiles.Decode(_cluster.Read("ignition/bootstrap-0.ign"));
        Assert.Contains("/etc/kubernetes/pki/etcd/server.key", files.Keys);
        Assert.Contains("/etc/kubernetes/pki/etcd/peer.key", files.Keys);
        var token = _cluster.Tokens.FindForMachine("bootstrap-0");
        Assert.NotNull(token);
        Assert.Contains($"token: \"{token.Value}\"", files["/etc/kubernetes/bootstrap-kubelet.kubeconfig"].Text);
        Assert.Contains("--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.kubeconfig", IgnitionFiles.Unit(_cluster.Read("ignition/bootstrap-0.ign"), "kubelet.service"));
        Assert.Contains($"readonly SINGLE_MACHINE=\"true\"", files["/usr/local/bin/bootkube.sh"].Text);
    }

    [Fact]
    [Trait(Category.Name, Category.Integration)] // runs the rendered script with bash
    public async Task Bootkube_keeps_the_control_plane_and_labels_the_bootstrap_node()
    {
        var ct = TestContext.Current.CancellationToken;
        var work = Path.Combine(_cluster.Tree.Root, "bootkube");
        var files = IgnitionFiles.Decode(_cluster.Read("ignition/bootstrap-0.ign"));
        foreach (var file in files.Values.Where(f => f.Path.StartsWith("/opt/provisioner/", StringComparison.Ordinal)))
        {
            var target = Path.Combine(work, "assets", file.Path["/opt/provisioner/".Length..]);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await File.WriteAllTextAsync(target, file.Text, ct);
        }
        var script = Path.Combine(work, "bootkube.sh");
        await File.WriteAllTextAsync(script, files["/usr/local/bin/bootkube.sh"].Text, ct);
        var psi = new ProcessStartInfo("bash", [script]) { RedirectStandardError = true, UseShellExecute = false };
        psi.Environment["BOOTKUBE_DRY_RUN"] = "1";
        psi.Environment["BOOTKUBE_ASSET_DIR"] = Path.Combine(work, "assets");
        psi.Environment["BOOTKUBE_STATE_DIR"] = Path.Combine(work, "state");
        psi.Environment["BOOTKUBE_STATIC_POD_DIR"] = Path.Combine(work, "static-pods");
        // Nothing listens on port 9: progress reports fail, and bootstrapping must go on regardless.
        psi.Environment["BOOTKUBE_PROGRESS_URL"] = "http://127.0.0.1:9/api/v1/progress";
        using var process = Process.Start(psi)!;
        var stderr = await process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        Assert.True(process.ExitCode == 0, stderr);

        var commands = await File.ReadAllLinesAsync(Path.Combine(work, "state", "dry-run.log"), ct);
        Assert.Contains(commands, c => c.StartsWith("cp ", StringComparison.Ordinal) && c.Contains("etcd.yaml", StringComparison.Ordinal));
        Assert.Contains(commands, c => c.Contains("label node bootstrap-0 node-role.kubernetes.io/control-plane=", StringComparison.Ordinal));
        Assert.DoesNotContain(commands, c => c.StartsWith("mv ", StringComparison.Ordinal));
        Assert.DoesNotContain(commands, c => c.Contains(" wait --for=condition=Ready", StringComparison.Ordinal));
        Assert.Contains("could not report", stderr);
        Assert.Equal(8, (await File.ReadAllLinesAsync(Path.Combine(work, "state", "stages.log"), ct)).Length);
    }
}
