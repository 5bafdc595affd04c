using k8s;
using k8s.Models;
using YamlDotNet.RepresentationModel;

namespace Provisioner.Tests.Cluster;

/// <summary>kubelet.service and KubeletConfiguration per role, and that every file they and the static pods use is delivered.</summary>
public sealed class KubeletTests(ExampleClusterFixture rendered) : IClassFixture<ExampleClusterFixture>
{
    private readonly RenderedCluster _cluster = rendered.Cluster;

    private string Ignition(string machine) => _cluster.Read($"ignition/{machine}.ign");

    private string[] ExecStartFlags(string machine)
    {
        var unit = IgnitionFiles.Unit(Ignition(machine), "kubelet.service");
        var exec = unit[unit.IndexOf("ExecStart=", StringComparison.Ordinal)..].Split("\n[", 2)[0].Split('\n').TakeWhile(l => l.Length > 0 && !l.StartsWith("Restart", StringComparison.Ordinal));
        return [.. string.Join(' ', exec).Replace("\\", " ", StringComparison.Ordinal).Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1)];
    }

    private YamlMappingNode KubeletConfig(string machine)
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(IgnitionFiles.Decode(Ignition(machine))["/etc/kubernetes/kubelet-config.yaml"].Text));
        return (YamlMappingNode)yaml.Documents[0].RootNode;
    }

    private static string? Scalar(YamlMappingNode map, params string[] path)
    {
        YamlNode node = map;
        foreach (var key in path)
            if (node is not YamlMappingNode m || !m.Children.TryGetValue(new YamlScalarNode(key), out node!)) return null;
        return ((YamlScalarNode)node).Value;
    }

    [Fact]
    public void Worker_kubelet_joins_with_its_bootstrap_kubeconfig_and_rotates_certificates_by_its_config()
    {
        var flags = ExecStartFlags("worker-0");
        Assert.Contains("--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.kubeconfig", flags);
        Assert.Contains("--kubeconfig=/etc/kubernetes/kubelet.kubeconfig", flags);
        Assert.Contains("--config=/etc/kubernetes/kubelet-config.yaml", flags);
        // The deprecated flag is gone; rotateCertificates: true in the KubeletConfiguration does it.
        Assert.DoesNotContain("--rotate-certificates", flags);
        Assert.Equal("true", Scalar(KubeletConfig("worker-0"), "rotateCertificates"));
        Assert.Contains("--hostname-override=worker-0", flags);
        // DHCP: no address known in advance. node-role.* labels are refused by the kubelet, so only the zone is self-set.
        Assert.DoesNotContain(flags, f => f.StartsWith("--node-ip", StringComparison.Ordinal));
        Assert.Contains("--node-labels=topology.kubernetes.io/zone=rack-1", flags);
        Assert.DoesNotContain(flags, f => f.StartsWith("--register-with-taints", StringComparison.Ordinal));
        Assert.Contains("\nRestart=always\n", IgnitionFiles.Unit(Ignition("worker-0"), "kubelet.service"));
    }

    [Fact]
    public void Control_plane_kubelet_uses_the_static_address_and_registers_with_the_no_schedule_taint()
    {
        var flags = ExecStartFlags("cp-0");
        Assert.Contains("--node-ip=192.0.2.21", flags);
        Assert.Contains("--register-with-taints=node-role.kubernetes.io/control-plane:NoSchedule", flags);
        Assert.DoesNotContain(flags, f => f.Contains("node-role.kubernetes.io/control-plane=", StringComparison.Ordinal));
        Assert.Contains("--bootstrap-kubeconfig=/etc/kubernetes/bootstrap-kubelet.kubeconfig", flags);
    }

    [Fact]
    public void Joining_kubelets_ask_for_serving_certificates_and_authenticate_with_the_cluster_ca()
    {
        foreach (var machine in new[] { "cp-0", "worker-0" })
        {
            var config = KubeletConfig(machine);
            Assert.Equal("KubeletConfiguration", Scalar(config, "kind"));
            Assert.Equal("true", Scalar(config, "serverTLSBootstrap"));
            Assert.Equal("true", Scalar(config, "rotateCertificates"));
            Assert.Equal("/etc/kubernetes/pki/ca.crt", Scalar(config, "authentication", "x509", "clientCAFile"));
            Assert.Equal("false", Scalar(config, "authentication", "anonymous", "enabled"));
            Assert.Equal("Webhook", Scalar(config, "authorization", "mode"));
            Assert.Equal("cluster.local", Scalar(config, "clusterDomain"));
            Assert.Equal("10.96.0.10", ((YamlScalarNode)((YamlSequenceNode)config.Children[new YamlScalarNode("clusterDNS")]).Children[0]).Value);
            Assert.Equal("/etc/kubernetes/manifests", Scalar(config, "staticPodPath"));
        }
    }

    [Fact]
    public void Bootstrap_kubelet_only_runs_static_pods_and_never_joins()
    {
        var flags = ExecStartFlags("bootstrap-0");
        Assert.DoesNotContain(flags, f => f.StartsWith("--bootstrap-kubeconfig", StringComparison.Ordinal) || f.StartsWith("--kubeconfig", StringComparison.Ordinal));
        Assert.Null(Scalar(KubeletConfig("bootstrap-0"), "serverTLSBootstrap"));
        Assert.Equal("AlwaysAllow", Scalar(KubeletConfig("bootstrap-0"), "authorization", "mode"));
        var bootkube = IgnitionFiles.Unit(Ignition("bootstrap-0"), "bootkube.service");
        Assert.Contains("ExecStart=/usr/local/bin/bootkube.sh", bootkube);
        Assert.Contains("ConditionPathExists=!/var/lib/bootkube/complete.done", bootkube);
    }

    /// <summary>Every host path a static pod mounts (certificates, kubeconfigs) must arrive with the machine's Ignition.</summary>
    [Theory]
    [InlineData("cp-0", "/etc/kubernetes/manifests/")]
    [InlineData("bootstrap-0", "/opt/provisioner/bootstrap-manifests/")]
    public void Every_file_the_static_pods_reference_is_delivered_to_that_machine(string machine, string podDir)
    {
        var files = IgnitionFiles.Decode(Ignition(machine));
        var pods = files.Values.Where(f => f.Path.StartsWith(podDir, StringComparison.Ordinal))
            .Select(f => Assert.IsType<V1Pod>(Assert.Single(KubernetesYaml.LoadAllFromString(f.Text)))).ToList();
        Assert.NotEmpty(pods);
        var referenced = pods.SelectMany(p => p.Spec.Containers[0].Command)
            .Select(flag => flag.Split('=', 2)).Where(kv => kv.Length == 2 && kv[1].StartsWith("/etc/kubernetes/", StringComparison.Ordinal))
            .Select(kv => kv[1]).Distinct().ToList();
        Assert.NotEmpty(referenced);
        Assert.All(referenced, path => Assert.True(files.ContainsKey(path), $"{machine}: a static pod uses {path}, which its Ignition does not write"));
    }
}
