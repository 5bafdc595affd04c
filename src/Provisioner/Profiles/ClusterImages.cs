using System.Collections.Immutable;
using System.Text.RegularExpressions;

namespace Provisioner.Profiles;

/// <summary>
/// Container images of the node, the control plane and the add-ons. Where they come from, first match wins:
/// <list type="number">
/// <item>the profiles' <c>release:</c> section, by digest (<c>registry/repository@sha256:…</c>): what the release mirror
///   serves and what every static pod, add-on and system container then names, so nothing is resolved by tag;</item>
/// <item>the cluster section's per-component override (<c>images: {etcd: mirror/etcd:3.5.15-0}</c>);</item>
/// <item>the default: <c>registry.k8s.io/&lt;component&gt;:&lt;kubernetesVersion&gt;</c> for the Kubernetes components,
///   the version kubeadm pairs with that minor for etcd, CoreDNS and pause, Typhoon's kubelet image (the Kubernetes
///   project publishes none; Fedora CoreOS has no kubelet package) and flannel's own images.</item>
/// </list>
/// </summary>
internal static partial class ClusterImages
{
    public const string ApiServer = "kube-apiserver";
    public const string ControllerManager = "kube-controller-manager";
    public const string Scheduler = "kube-scheduler";
    public const string Proxy = "kube-proxy";
    public const string Etcd = "etcd";
    public const string CoreDns = "coredns";
    public const string Pause = "pause";
    /// <summary>The kubelet, run as a system container by podman (its entrypoint is the kubelet).</summary>
    public const string Kubelet = "kubelet";
    /// <summary>kubectl for bootkube.sh, run by podman (kubectl on the image's PATH).</summary>
    public const string Kubectl = "kubectl";
    /// <summary>flanneld (the pod network's DaemonSet).</summary>
    public const string Flannel = "flannel";
    /// <summary>flannel's CNI plugin (<c>/flannel</c>), copied to <c>/opt/cni/bin</c> by an init container.</summary>
    public const string FlannelCniPlugin = "flannel-cni-plugin";

    public const string DefaultFlannelVersion = "v0.26.1";
    public const string DefaultFlannelCniPluginVersion = "v1.5.1-flannel2";

    public static readonly ImmutableArray<string> Components =
        [ApiServer, ControllerManager, Scheduler, Proxy, Etcd, CoreDns, Pause, Kubelet, Kubectl, Flannel, FlannelCniPlugin];

    /// <summary>What every topology runs, whatever its pod network (a release must name each).</summary>
    public static readonly ImmutableArray<string> AlwaysNeeded =
        [ApiServer, ControllerManager, Scheduler, Proxy, Etcd, CoreDns, Pause, Kubelet, Kubectl];

    /// <summary>The components the cluster runs: <see cref="AlwaysNeeded"/> plus flannel's two when it is the pod network.</summary>
    public static IEnumerable<string> Needed(ClusterSpec cluster) =>
        cluster.Network == ClusterSpec.NetworkFlannel ? [.. AlwaysNeeded, Flannel, FlannelCniPlugin] : AlwaysNeeded;

    /// <summary>
    /// The image for <paramref name="component"/> as the machines name it: the release's pinned digest when the
    /// release defines the component, else <see cref="For(ClusterSpec, string)"/>.
    /// </summary>
    public static string For(ProfileSet profiles, string component) =>
        profiles.Release?.Images.FirstOrDefault(i => i.Component == component) is { } pinned
            ? pinned.PinnedReference
            : For(profiles.Cluster, component);

    /// <summary>The image for <paramref name="component"/> (one of <see cref="Components"/>) without a release: override or default.</summary>
    public static string For(ClusterSpec cluster, string component)
    {
        if (cluster.Images.TryGetValue(component, out var overridden)) return overridden;
        // Versions per minor live in KubernetesReleases; validation has refused any version outside them.
        var defaults = KubernetesReleases.For(cluster.KubernetesVersion);
        return component switch
        {
            ApiServer or ControllerManager or Scheduler or Proxy or Kubectl => $"registry.k8s.io/{component}:{cluster.KubernetesVersion}",
            Etcd => $"registry.k8s.io/etcd:{defaults.Etcd}",
            CoreDns => $"registry.k8s.io/coredns/coredns:{defaults.CoreDns}",
            Pause => $"registry.k8s.io/pause:{defaults.Pause}",
            Kubelet => $"quay.io/poseidon/kubelet:{cluster.KubernetesVersion}",
            Flannel => $"docker.io/flannel/flannel:{DefaultFlannelVersion}",
            FlannelCniPlugin => $"docker.io/flannel/flannel-cni-plugin:{DefaultFlannelCniPluginVersion}",
            _ => throw new ArgumentOutOfRangeException(nameof(component), component, "not a known component"),
        };
    }

    /// <summary>Every image without a release, by component.</summary>
    public static ImmutableSortedDictionary<string, string> All(ClusterSpec cluster) =>
        Components.ToImmutableSortedDictionary(c => c, c => For(cluster, c), StringComparer.Ordinal);

    /// <summary>Every image as the machines name it (release digests first), by component.</summary>
    public static ImmutableSortedDictionary<string, string> All(ProfileSet profiles) =>
        Components.ToImmutableSortedDictionary(c => c, c => For(profiles, c), StringComparer.Ordinal);

    /// <summary>Why <paramref name="reference"/> is not a usable image reference, or null when it is.</summary>
    public static string? Problem(string reference) =>
        ImageReference().IsMatch(reference) ? null : $"'{reference}' is not an image reference like registry.example/kube-apiserver:v1.31.2";

    // [registry[:port]/]path[:tag][@sha256:digest], lower-case path as the distribution spec requires.
    [GeneratedRegex(@"^([a-zA-Z0-9.-]+(:[0-9]+)?/)?[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$")]
    private static partial Regex ImageReference();
}
