namespace Provisioner.Cluster;

/// <summary>
/// Which labels a kubelet may set on its own Node (<c>--node-labels</c>). The kubelet refuses to start with
/// other labels in the kubernetes.io / k8s.io namespaces (NodeRestriction would reject them anyway), e.g.
/// <c>node-role.kubernetes.io/control-plane</c>; those are applied through the API instead.
/// </summary>
internal static class KubeletLabels
{
    private static readonly string[] AllowedKeys =
    [
        "kubernetes.io/hostname", "kubernetes.io/instance-type", "kubernetes.io/os", "kubernetes.io/arch",
        "beta.kubernetes.io/instance-type", "beta.kubernetes.io/os", "beta.kubernetes.io/arch",
        "failure-domain.beta.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/region",
        "failure-domain.kubernetes.io/zone", "failure-domain.kubernetes.io/region",
        "topology.kubernetes.io/zone", "topology.kubernetes.io/region", "node.kubernetes.io/instance-type",
    ];

    private static readonly string[] AllowedNamespaces = ["kubelet.kubernetes.io", "node.kubernetes.io"];

    public static bool SelfSettable(string key)
    {
        var slash = key.IndexOf('/');
        if (slash < 0) return true;
        var prefix = key[..slash];
        bool Reserved(string ns) => prefix == ns || prefix.EndsWith("." + ns, StringComparison.Ordinal);
        if (!Reserved("kubernetes.io") && !Reserved("k8s.io")) return true;
        return AllowedKeys.Contains(key, StringComparer.Ordinal) || AllowedNamespaces.Any(Reserved);
    }
}
