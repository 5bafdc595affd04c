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

    /// <summary>kubeadm's etcd, CoreDNS and pause for each supported minor (cmd/kubeadm/app/constants of that release).</summary>
    [Theory]
    [InlineData("v1.24.17", "3.5.6-0", "v1.8.6", "3.7")]
    [InlineData("v1.25.16", "3.5.6-0", "v1.9.3", "3.8")]
    [InlineData("v1.26.15", "3.5.6-0", "v1.9.3", "3.9")]
    [InlineData("v1.27.16", "3.5.7-0", "v1.10.1", "3.9")]
    [InlineData("v1.28.15", "3.5.9-0", "v1.10.1", "3.9")]
    [InlineData("v1.29.10", "3.5.10-0", "v1.11.1", "3.9")]
    [InlineData("v1.30.6", "3.5.12-0", "v1.11.1", "3.9")]
    [InlineData("v1.31.2", "3.5.15-0", "v1.11.3", "3.10")]
    [InlineData("v1.32.0", "3.5.16-0", "v1.11.3", "3.10")]
    [InlineData("v1.33.1", "3.5.21-0", "v1.12.0", "3.10")]
    [InlineData("v1.34.0", "3.6.4-0", "v1.12.1", "3.10.1")]
    public void Each_supported_minor_gets_the_etcd_coredns_and_pause_kubeadm_of_that_minor_deploys(string version, string etcd, string coreDns, string pause)
    {
        _tree.Edit("cluster.yaml", "kubernetesVersion: v1.31.2", $"kubernetesVersion: {version}");

        var images = ClusterImages.All(ProfileLoader.Load(_tree.Sources).Cluster);

        Assert.Equal($"registry.k8s.io/etcd:{etcd}", images["etcd"]);
        Assert.Equal($"registry.k8s.io/coredns/coredns:{coreDns}", images["coredns"]);
        Assert.Equal($"registry.k8s.io/pause:{pause}", images["pause"]);
        Assert.Equal($"registry.k8s.io/kube-apiserver:{version}", images["kube-apiserver"]);
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
