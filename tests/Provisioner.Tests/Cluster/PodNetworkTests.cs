using System.Text.Json;
using k8s;
using k8s.Models;
using Provisioner.Cluster;
using Provisioner.Profiles;
using Provisioner.Tests.Release;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Cluster;

/// <summary>
/// The pod network (issue 14): flannel rendered into manifests/ from podCidr, or nothing with <c>cluster.network: none</c>;
/// and images named by the release's digests wherever the release defines them.
/// </summary>
public sealed class PodNetworkTests
{
    private static List<object> Load(RenderedCluster cluster, string relative) => KubernetesYaml.LoadAllFromString(cluster.Read(relative));

    private static string NetConf(IEnumerable<object> objects) =>
        objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == "kube-flannel-cfg").Data["net-conf.json"];

    [Fact]
    public async Task Flannel_parses_into_typed_objects_and_its_network_is_the_pod_cidr()
    {
        using var cluster = await RenderedCluster.CreateAsync();

        var objects = Load(cluster, "manifests/" + ClusterManifests.FlannelFile);

        Assert.Equal(["ServiceAccount", "ClusterRole", "ClusterRoleBinding", "ConfigMap", "DaemonSet"],
            objects.Select(o => ((IKubernetesObject)o).Kind));
        using var netConf = JsonDocument.Parse(NetConf(objects));
        Assert.Equal("10.244.0.0/16", netConf.RootElement.GetProperty("Network").GetString());
        Assert.Equal(cluster.Profiles.Cluster.PodCidr.ToString(), netConf.RootElement.GetProperty("Network").GetString());
        Assert.Equal("vxlan", netConf.RootElement.GetProperty("Backend").GetProperty("Type").GetString());
        using var cniConf = JsonDocument.Parse(objects.OfType<V1ConfigMap>().Single().Data["cni-conf.json"]);
        Assert.Equal("flannel", cniConf.RootElement.GetProperty("plugins")[0].GetProperty("type").GetString());

        var ds = objects.OfType<V1DaemonSet>().Single();
        var pod = ds.Spec.Template.Spec;
        Assert.True(pod.HostNetwork);
        Assert.Equal("flannel", pod.ServiceAccountName);
        Assert.Equal(["install-cni-plugin", "install-cni"], pod.InitContainers.Select(c => c.Name));
        Assert.Equal("docker.io/flannel/flannel-cni-plugin:v1.5.1-flannel2", pod.InitContainers[0].Image);
        Assert.Contains("cp -f /flannel /host/opt/cni/bin/flannel", pod.InitContainers[0].Command[^1]);
        Assert.Equal(["-f", "/etc/kube-flannel/cni-conf.json", "/etc/cni/net.d/10-flannel.conflist"], pod.InitContainers[1].Args);
        var flanneld = Assert.Single(pod.Containers);
        Assert.Equal("docker.io/flannel/flannel:v0.26.1", flanneld.Image);
        Assert.Equal(["--ip-masq", "--kube-subnet-mgr"], flanneld.Args);
        Assert.Equal(["NET_ADMIN", "NET_RAW"], flanneld.SecurityContext.Capabilities.Add);
        Assert.Equal("/opt/cni/bin", pod.Volumes.Single(v => v.Name == "cni-plugin").HostPath.Path);
        Assert.Equal("/etc/cni/net.d", pod.Volumes.Single(v => v.Name == "cni").HostPath.Path);
        // flannel reads the node's podCIDR, which the controller-manager allocates from the same range.
        var kcm = (V1Pod)KubernetesYaml.LoadAllFromString(cluster.Read("control-plane/cp-0/kube-controller-manager.yaml")).Single();
        Assert.Contains("--allocate-node-cidrs=true", kcm.Spec.Containers[0].Command);
        Assert.Contains("--cluster-cidr=10.244.0.0/16", kcm.Spec.Containers[0].Command);
        var proxy = Load(cluster, "manifests/" + ClusterManifests.KubeProxyFile).OfType<V1ConfigMap>().Single();
        Assert.Contains("clusterCIDR: 10.244.0.0/16", proxy.Data["config.conf"]);
    }

    [Fact]
    public async Task Another_pod_cidr_is_flannels_network()
    {
        using var cluster = await RenderedCluster.CreateAsync(t => t.Edit("cluster.yaml", "podCidr: 10.244.0.0/16", "podCidr: 172.20.0.0/14"));

        using var netConf = JsonDocument.Parse(NetConf(Load(cluster, "manifests/" + ClusterManifests.FlannelFile)));

        Assert.Equal("172.20.0.0/14", netConf.RootElement.GetProperty("Network").GetString());
    }

    [Fact]
    public async Task With_network_none_there_is_no_flannel_and_bootstrap_gets_no_flannel_file()
    {
        using var cluster = await RenderedCluster.CreateAsync(t => t.Edit("cluster.yaml", "network: flannel", "network: none"));

        Assert.Equal(ClusterSpec.NetworkNone, cluster.Profiles.Cluster.Network);
        Assert.DoesNotContain(cluster.FilesUnder("manifests"), f => f.Contains("flannel", StringComparison.Ordinal));
        Assert.DoesNotContain(IgnitionFiles.Decode(cluster.Read("ignition/bootstrap-0.ign")).Keys, p => p.Contains("flannel", StringComparison.Ordinal));
    }

    [Fact]
    public void An_unknown_network_is_a_profile_error_naming_the_choices()
    {
        using var tree = new ProfileTree();
        tree.Edit("cluster.yaml", "network: flannel", "network: calico");

        var problem = Assert.Single(ProfileLoader.TryLoad(tree.Sources).Diagnostics);

        Assert.Equal("cluster.network", problem.Field);
        Assert.Contains("'calico' is not a pod network", problem.Message);
        Assert.Contains("flannel", problem.Message);
        Assert.Contains("none", problem.Message);
    }

    private static string ReleaseWithout(params string[] components) =>
        string.Join('\n', ReleaseYaml.Section([]).Split('\n').Where(l => !components.Any(c => l.TrimStart().StartsWith(c + ":", StringComparison.Ordinal))));

    [Theory]
    [InlineData("kubelet")]
    [InlineData("kubectl")]
    [InlineData("flannel")]
    [InlineData("flannel-cni-plugin")]
    public void Validate_names_a_release_image_the_topology_needs_but_the_release_lacks(string component)
    {
        using var tree = new ProfileTree();
        tree.Write("release.yaml", ReleaseWithout(component));

        var problems = ProfileLoader.TryLoad(tree.Sources).Diagnostics;

        var problem = Assert.Single(problems);
        Assert.Equal("release.images", problem.Field);
        Assert.Contains($"the '{component}' image is missing", problem.Message);
    }

    [Fact]
    public void With_network_none_a_release_needs_no_flannel_images()
    {
        using var tree = new ProfileTree();
        tree.Edit("cluster.yaml", "network: flannel", "network: none");
        tree.Write("release.yaml", ReleaseWithout("flannel", "flannel-cni-plugin"));

        Assert.Empty(ProfileLoader.TryLoad(tree.Sources).Diagnostics);
    }

    [Fact]
    public void Without_a_release_no_image_is_required_and_the_defaults_hold()
    {
        using var tree = new ProfileTree();
        var profiles = ProfileLoader.Load(tree.Sources);

        Assert.Null(profiles.Release);
        Assert.Equal("quay.io/poseidon/kubelet:v1.31.2", ClusterImages.For(profiles, ClusterImages.Kubelet));
        Assert.Equal("registry.k8s.io/kubectl:v1.31.2", ClusterImages.For(profiles, ClusterImages.Kubectl));
    }

    [Fact]
    public async Task With_a_release_static_pods_add_ons_kubelet_kubectl_and_the_sandbox_name_images_by_digest()
    {
        using var cluster = await RenderedCluster.CreateAsync(t => t.Write("release.yaml", ReleaseYaml.Section([])));
        string Pinned(string repository, string component) => $"{repository}@sha256:{ReleaseYaml.Hex(component)}";

        var images = cluster.FilesUnder("control-plane").Concat(cluster.FilesUnder("bootstrap-manifests")).Concat(cluster.FilesUnder("manifests"))
            .SelectMany(f => KubernetesYaml.LoadAllFromString(File.ReadAllText(f)))
            .SelectMany(o => o switch
            {
                V1Pod p => p.Spec.Containers.Concat(p.Spec.InitContainers ?? []),
                V1DaemonSet d => d.Spec.Template.Spec.Containers.Concat(d.Spec.Template.Spec.InitContainers ?? []),
                V1Deployment d => d.Spec.Template.Spec.Containers,
                _ => [],
            }).Select(c => c.Image).Distinct().Order(StringComparer.Ordinal).ToList();

        Assert.Equal(new[]
        {
            Pinned("docker.io/flannel/flannel", "flannel"), Pinned("docker.io/flannel/flannel-cni-plugin", "flannel-cni-plugin"),
            Pinned("registry.k8s.io/coredns/coredns", "coredns"), Pinned("registry.k8s.io/etcd", "etcd"),
            Pinned("registry.k8s.io/kube-apiserver", "kube-apiserver"), Pinned("registry.k8s.io/kube-controller-manager", "kcm"),
            Pinned("registry.k8s.io/kube-proxy", "kp"), Pinned("registry.k8s.io/kube-scheduler", "ks"),
        }.Order(StringComparer.Ordinal), images);
        Assert.All(images, i => Assert.DoesNotContain(":v", i.Split('@')[0].Split('/')[^1]));

        var worker = IgnitionFiles.Decode(cluster.Read("ignition/worker-0.ign"));
        Assert.Contains($"sandbox_image = \"{Pinned("registry.k8s.io/pause", "pause")}\"", worker["/etc/containerd/config.toml"].Text);
        Assert.Equal(Pinned("quay.io/poseidon/kubelet", "kubelet"),
            KubeletUnit.Parse(IgnitionFiles.Unit(cluster.Read("ignition/worker-0.ign"), "kubelet.service")).Image);
        var bootkube = IgnitionFiles.Decode(cluster.Read("ignition/bootstrap-0.ign"))["/usr/local/bin/bootkube.sh"].Text;
        Assert.Contains($"readonly DEFAULT_KUBECTL_IMAGE=\"{Pinned("registry.k8s.io/kubectl", "kubectl")}\"", bootkube);
    }
}
