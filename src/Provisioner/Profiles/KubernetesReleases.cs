using System.Collections.Immutable;
using System.Globalization;
using System.Text.RegularExpressions;
using Provisioner.Primitives;

namespace Provisioner.Profiles;

/// <summary>
/// One Kubernetes minor Provisioner renders for: the etcd, CoreDNS and pause versions kubeadm of that minor deploys
/// (<c>cmd/kubeadm/app/constants</c>), and what that minor's kubelet understands.
/// </summary>
internal sealed record KubernetesMinor(int Minor, string Etcd, string CoreDns, string Pause)
{
    /// <summary>The minor as operators write it, e.g. <c>v1.27</c>.</summary>
    public string Name => $"v1.{Minor.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// KubeletConfiguration has <c>containerRuntimeEndpoint</c> from v1.27. An older kubelet decodes its config strictly
    /// and refuses the unknown field, and since dockershim is gone (v1.24) it needs the <c>--container-runtime-endpoint</c> flag.
    /// </summary>
    public bool KubeletConfigHasContainerRuntimeEndpoint => Minor >= 27;
}

/// <summary>
/// The Kubernetes minors Provisioner supports, one record each: the only place that knows per-version facts.
/// A version outside them is refused by profile validation (so by <c>validate</c> and <c>serve</c>) instead of being
/// rendered with another minor's images and kubelet settings.
/// </summary>
internal static partial class KubernetesReleases
{
    // etcd/CoreDNS/pause as kubeadm of each minor pins them. kubeadm patch releases have since moved some forward
    // (e.g. etcd 3.5.12-0 for later v1.29 patches); an operator who wants those sets cluster.images.
    public static readonly ImmutableArray<KubernetesMinor> Supported =
    [
        new(24, Etcd: "3.5.6-0", CoreDns: "v1.8.6", Pause: "3.7"),
        new(25, Etcd: "3.5.6-0", CoreDns: "v1.9.3", Pause: "3.8"),
        new(26, Etcd: "3.5.6-0", CoreDns: "v1.9.3", Pause: "3.9"),
        new(27, Etcd: "3.5.7-0", CoreDns: "v1.10.1", Pause: "3.9"),
        new(28, Etcd: "3.5.9-0", CoreDns: "v1.10.1", Pause: "3.9"),
        new(29, Etcd: "3.5.10-0", CoreDns: "v1.11.1", Pause: "3.9"),
        new(30, Etcd: "3.5.12-0", CoreDns: "v1.11.1", Pause: "3.9"),
        new(31, Etcd: "3.5.15-0", CoreDns: "v1.11.3", Pause: "3.10"),
        new(32, Etcd: "3.5.16-0", CoreDns: "v1.11.3", Pause: "3.10"),
        new(33, Etcd: "3.5.21-0", CoreDns: "v1.12.0", Pause: "3.10"),
        new(34, Etcd: "3.6.4-0", CoreDns: "v1.12.1", Pause: "3.10.1"),
    ];

    public static KubernetesMinor Oldest => Supported[0];
    public static KubernetesMinor Newest => Supported[^1];

    /// <summary>E.g. <c>v1.24 through v1.34</c>.</summary>
    public static string SupportedRange => $"{Oldest.Name} through {Newest.Name}";

    /// <summary>The supported minor of <paramref name="kubernetesVersion"/> (<c>v1.31.2</c>), or null.</summary>
    public static KubernetesMinor? Find(string kubernetesVersion)
    {
        var match = MajorMinor().Match(kubernetesVersion);
        if (!match.Success || match.Groups[1].Value != "1") return null;
        if (!int.TryParse(match.Groups[2].Value, NumberStyles.None, CultureInfo.InvariantCulture, out var minor)) return null;
        return Supported.FirstOrDefault(m => m.Minor == minor);
    }

    /// <summary>The supported minor of a version profile validation accepted; anything else is a rendering error.</summary>
    public static KubernetesMinor For(string kubernetesVersion) =>
        Find(kubernetesVersion) ?? throw new ClusterRenderException(Problem(kubernetesVersion)!);

    /// <summary>Why <paramref name="kubernetesVersion"/> cannot be rendered, or null when it can.</summary>
    public static string? Problem(string kubernetesVersion) => Find(kubernetesVersion) is not null ? null :
        $"'{kubernetesVersion}' is not supported: Provisioner renders Kubernetes {SupportedRange} " +
        "(it knows that range's kubelet configuration and kubeadm's etcd, CoreDNS and pause versions)";

    [GeneratedRegex(@"^v(\d+)\.(\d+)\.")]
    private static partial Regex MajorMinor();
}
