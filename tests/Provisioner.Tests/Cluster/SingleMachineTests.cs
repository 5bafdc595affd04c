using k8s;
using k8s.Models;

namespace Provisioner.Tests.Cluster;

/// <summary>With no control-plane machine the bootstrap machine runs etcd locally and stays the control plane.</summary>
public sealed class SingleMachineTests : IAsyncLifetime
{
    private RenderedCluster _cluster = null!;

    public async ValueTask InitializeAsync() =>
        _cluster = await RenderedCluster.CreateAsync(tree => tree.Edit("machines.yaml", "role: control-plane", "role: worker"));

    public ValueTask DisposeAsync()
    {
        _cluster.Dispose();
        return ValueTask.CompletedTask;
    }

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
}
