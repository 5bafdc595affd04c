using Provisioner.Cluster;
using Provisioner.Profiles;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Cluster;

/// <summary><c>cluster.images</c>: per-component overrides, validated like every other profile field.</summary>
public sealed class ImageOverrideTests : IDisposable
{
    private readonly ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private IReadOnlyList<ProfileDiagnostic> LoadWithImages(string images)
    {
        _tree.Edit("cluster.yaml", "  clusterDomain: cluster.local", "  clusterDomain: cluster.local\n  images:\n" + images);
        return ProfileLoader.TryLoad(_tree.Sources).Diagnostics;
    }

    [Fact]
    public void Defaults_follow_the_kubernetes_version_as_kubeadm_pairs_them()
    {
        var (profiles, _) = ProfileLoader.TryLoad(_tree.Sources);
        var images = ClusterImages.All(profiles!.Cluster);
        Assert.Equal("registry.k8s.io/kube-controller-manager:v1.31.2", images["kube-controller-manager"]);
        Assert.Equal("registry.k8s.io/etcd:3.5.15-0", images["etcd"]);
        Assert.Equal("registry.k8s.io/coredns/coredns:v1.11.3", images["coredns"]);
        Assert.Equal("registry.k8s.io/pause:3.10", images["pause"]);
    }

    [Fact]
    public void An_unknown_component_is_an_error_naming_the_known_ones()
    {
        var problem = Assert.Single(LoadWithImages("    kube-apiservr: mirror/kube-apiserver:v1.31.2\n"));
        Assert.Equal("cluster.images.kube-apiservr", problem.Field);
        Assert.Contains("unknown component 'kube-apiservr' (known: kube-apiserver,", problem.Message);
    }

    [Fact]
    public void A_malformed_reference_is_an_error_at_its_line()
    {
        var problem = Assert.Single(LoadWithImages("    etcd: \"Mirror Example/etcd\"\n"));
        Assert.Equal("cluster.images.etcd", problem.Field);
        Assert.Contains("is not an image reference", problem.Message);
        Assert.True(problem.Line > 0);
    }
}
