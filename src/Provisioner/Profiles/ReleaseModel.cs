using System.Collections.Immutable;
using Provisioner.Primitives;

namespace Provisioner.Profiles;

/// <summary>
/// The <c>release:</c> section of the profiles: which Kubernetes version, which component images (by tag and
/// digest), and which OS boot artifacts per architecture (by source URL and sha256).
/// </summary>
internal sealed record ReleaseSpec(
    string KubernetesVersion,
    ImmutableArray<ReleaseImage> Images,
    ImmutableArray<ReleaseArtifact> Artifacts,
    SourceLocation Location)
{
    /// <summary>
    /// The component images every topology needs: a kubeadm-style control plane (<c>kubeadm config images list</c>) plus
    /// the kubelet and kubectl, which Fedora CoreOS does not ship and the machines run with podman. The pod network's
    /// images (flannel, flannel-cni-plugin) are required when <c>cluster.network</c> is flannel (checked with the cluster).
    /// </summary>
    public static readonly ImmutableArray<string> RequiredComponents = ClusterImages.AlwaysNeeded;

    public ReleaseArtifact? FindArtifact(string name, string architecture) =>
        Artifacts.FirstOrDefault(a => a.Name == name && a.Architecture == architecture);

    public bool DefinesArtifact(string name) => Artifacts.Any(a => a.Name == name);

    /// <summary>Registry hosts the release's images come from (for mirror configuration).</summary>
    public IEnumerable<string> Registries => Images.Select(i => i.Registry).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal);
}

/// <summary>A component image: <c>registry/repository:tag</c> pinned to <see cref="Digest"/>.</summary>
internal sealed record ReleaseImage(string Component, string Registry, string Repository, string Tag, Digest Digest)
{
    public string Reference => $"{Registry}/{Repository}:{Tag}";
    public string PinnedReference => $"{Registry}/{Repository}@{Digest}";
}

/// <summary>An OS boot artifact for one architecture, fetched from <see cref="Source"/> and verified against <see cref="Sha256"/>.</summary>
internal sealed record ReleaseArtifact(string Name, string Architecture, Uri Source, Digest Sha256)
{
    public override string ToString() => $"{Name} ({Architecture})";
}

/// <summary>Architecture names as Fedora CoreOS streams spell them, and iPXE's <c>${buildarch}</c> mapped onto them.</summary>
internal static class Architectures
{
    public static readonly ImmutableArray<string> Known = ["x86_64", "aarch64", "ppc64le", "s390x"];
    public const string Default = "x86_64";

    /// <summary>iPXE sends <c>${buildarch}</c> (i386, x86_64, arm64, arm32); null/empty means the default.</summary>
    public static string FromIpxe(string? buildarch) => buildarch switch
    {
        null or "" or "i386" or "x86_64" => "x86_64",
        "arm64" => "aarch64",
        _ => buildarch,
    };
}
