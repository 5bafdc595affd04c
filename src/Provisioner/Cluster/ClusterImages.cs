using System.Collections.Immutable;
using System.Text.RegularExpressions;
using Provisioner.Profiles;

namespace Provisioner.Cluster;

/// <summary>
/// Container images of the control plane and add-ons: <c>registry.k8s.io/&lt;component&gt;:&lt;kubernetesVersion&gt;</c>
/// for the Kubernetes components, the version kubeadm pairs with that minor for etcd, CoreDNS and pause.
/// An operator overrides any of them per component in the cluster section (<c>images: {etcd: mirror/etcd:3.5.15-0}</c>),
/// e.g. to pull from a mirror.
/// </summary>
public static partial class ClusterImages
{
    public const string ApiServer = "kube-apiserver";
    public const string ControllerManager = "kube-controller-manager";
    public const string Scheduler = "kube-scheduler";
    public const string Proxy = "kube-proxy";
    public const string Etcd = "etcd";
    public const string CoreDns = "coredns";
    public const string Pause = "pause";

    public static readonly ImmutableArray<string> Components = [ApiServer, ControllerManager, Scheduler, Proxy, Etcd, CoreDns, Pause];

    /// <summary>The image for <paramref name="component"/> (one of <see cref="Components"/>).</summary>
    public static string For(ClusterSpec cluster, string component)
    {
        if (cluster.Images.TryGetValue(component, out var overridden)) return overridden;
        // Versions per minor live in KubernetesReleases; validation has refused any version outside them.
        var defaults = KubernetesReleases.For(cluster.KubernetesVersion);
        return component switch
        {
            ApiServer or ControllerManager or Scheduler or Proxy => $"registry.k8s.io/{component}:{cluster.KubernetesVersion}",
            Etcd => $"registry.k8s.io/etcd:{defaults.Etcd}",
            CoreDns => $"registry.k8s.io/coredns/coredns:{defaults.CoreDns}",
            Pause => $"registry.k8s.io/pause:{defaults.Pause}",
            _ => throw new ArgumentOutOfRangeException(nameof(component), component, "not a known component"),
        };
    }

    /// <summary>Every image the cluster runs, by component (what the bootstrap machine pulls before starting).</summary>
    public static ImmutableSortedDictionary<string, string> All(ClusterSpec cluster) =>
        Components.ToImmutableSortedDictionary(c => c, c => For(cluster, c), StringComparer.Ordinal);

    /// <summary>Why <paramref name="reference"/> is not a usable image reference, or null when it is.</summary>
    public static string? Problem(string reference) =>
        ImageReference().IsMatch(reference) ? null : $"'{reference}' is not an image reference like registry.example/kube-apiserver:v1.31.2";

    // [registry[:port]/]path[:tag][@sha256:digest], lower-case path as the distribution spec requires.
    [GeneratedRegex(@"^([a-zA-Z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$")]
    private static partial Regex ImageReference();
}
