using k8s.Models;
using Provisioner.Pki;
using Provisioner.Tokens;
using Provisioner.Profiles;

namespace Provisioner.Cluster;

/// <summary>
/// The objects the bootstrap machine applies once its temporary API server answers (<c>manifests/</c>):
/// namespaces, the machines' bootstrap-token Secrets, the RBAC that lets those tokens create CSRs (and nothing
/// more: no auto-approve bindings, approval is Provisioner's job), <c>kube-public/cluster-info</c>, Provisioner's
/// approver role, kube-proxy, CoreDNS and the pod network (flannel, unless <c>cluster.network: none</c>). File names
/// sort in apply order. Each add-on is built in its own file (ClusterManifests.&lt;AddOn&gt;.cs).
/// </summary>
internal static partial class ClusterManifests
{
    public const string NamespacesFile = "0000-namespaces.yaml";
    public const string BootstrapTokensFile = "0001-bootstrap-tokens.yaml";
    public const string BootstrapRbacFile = "0002-bootstrapper-rbac.yaml";
    public const string ClusterInfoFile = "0003-cluster-info.yaml";
    public const string ApproverRbacFile = "0004-provisioner-approver-rbac.yaml";
    public const string KubeProxyFile = "0010-kube-proxy.yaml";
    public const string CoreDnsFile = "0020-coredns.yaml";
    public const string FlannelFile = "0030-flannel.yaml";

    public static IReadOnlyList<(string FileName, IReadOnlyList<object> Objects)> All(ClusterTopology topology, string caPem, IEnumerable<BootstrapToken> tokens)
    {
        var all = new List<(string, IReadOnlyList<object>)>
        {
            (NamespacesFile, Namespaces()),
            (BootstrapTokensFile, [.. tokens.Select(TokenSecret)]),
            (BootstrapRbacFile, BootstrapperRbac()),
            (ClusterInfoFile, ClusterInfo(topology, caPem)),
            (ApproverRbacFile, ApproverRbac()),
            (KubeProxyFile, KubeProxy(topology)),
            (CoreDnsFile, CoreDns(topology)),
        };
        if (topology.Cluster.Network == Profiles.ClusterSpec.NetworkFlannel) all.Add((FlannelFile, Flannel(topology)));
        return all;
    }

    private static V1ObjectMeta Meta(string name, string? ns = null, IDictionary<string, string>? labels = null) =>
        new() { Name = name, NamespaceProperty = ns, Labels = labels };

    public static IReadOnlyList<object> Namespaces() =>
    [
        .. new[] { "kube-system", "kube-public", "kube-node-lease" }.Select(n =>
            new V1Namespace { ApiVersion = "v1", Kind = "Namespace", Metadata = Meta(n) }),
    ];

    /// <summary>The Secret that makes the API server accept a machine's token, labelled with the machine it was issued to.</summary>
    public static V1Secret TokenSecret(BootstrapToken token) => new()
    {
        ApiVersion = "v1",
        Kind = "Secret",
        Metadata = Meta(token.SecretName, "kube-system", new Dictionary<string, string> { [BootstrapToken.MachineLabel] = token.MachineName }),
        Type = BootstrapToken.SecretType,
        StringData = token.SecretData().ToDictionary(),
    };

    /// <summary>Token holders may create CSRs (kubeadm binds system:node-bootstrapper the same way); nothing approves them automatically.</summary>
    public static IReadOnlyList<object> BootstrapperRbac() =>
    [
        BindClusterRole("provisioner:node-bootstrapper", "system:node-bootstrapper", new Rbacv1Subject { ApiGroup = Rbac, Kind = "Group", Name = BootstrapToken.ExtraGroup }),
    ];

    /// <summary>
    /// <c>kube-public/cluster-info</c> (CA + server, which the bootstrapsigner controller signs with each token)
    /// and the Role that lets anonymous clients read it, as <c>kubeadm init phase bootstrap-token</c> does.
    /// </summary>
    public static IReadOnlyList<object> ClusterInfo(ClusterTopology topology, string caPem) =>
    [
        new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = Meta("cluster-info", "kube-public"),
            Data = new Dictionary<string, string> { ["kubeconfig"] = Kubeconfigs.ClusterOnly(topology.ApiServerUrl, caPem) },
        },
        new V1Role
        {
            ApiVersion = Rbac + "/v1",
            Kind = "Role",
            Metadata = Meta("provisioner:bootstrap-signer-clusterinfo", "kube-public"),
            Rules = [new V1PolicyRule { ApiGroups = [""], Resources = ["configmaps"], ResourceNames = ["cluster-info"], Verbs = ["get"] }],
        },
        BindRole("provisioner:bootstrap-signer-clusterinfo", "kube-public", "provisioner:bootstrap-signer-clusterinfo", new Rbacv1Subject { ApiGroup = Rbac, Kind = "User", Name = "system:anonymous" }),
    ];

    private const string Rbac = "rbac.authorization.k8s.io";

    /// <summary>
    /// A DaemonSet of a node agent (kube-proxy, flannel): on every Linux node, in the host network, critical, tolerating
    /// every taint, under its own service account.
    /// </summary>
    private static V1DaemonSet NodeAgent(string name, Dictionary<string, string> labels, string serviceAccount, V1PodSpec pod)
    {
        pod.HostNetwork = true;
        pod.PriorityClassName = "system-node-critical";
        pod.ServiceAccountName = serviceAccount;
        pod.NodeSelector = new Dictionary<string, string> { ["kubernetes.io/os"] = "linux" };
        pod.Tolerations = [new V1Toleration { OperatorProperty = "Exists" }];
        return new V1DaemonSet
        {
            ApiVersion = "apps/v1",
            Kind = "DaemonSet",
            Metadata = Meta(name, "kube-system", labels),
            Spec = new V1DaemonSetSpec
            {
                Selector = new V1LabelSelector { MatchLabels = labels },
                UpdateStrategy = new V1DaemonSetUpdateStrategy { Type = "RollingUpdate" },
                Template = new V1PodTemplateSpec { Metadata = new V1ObjectMeta { Labels = labels }, Spec = pod },
            },
        };
    }

    private static V1ClusterRoleBinding BindClusterRole(string name, string clusterRole, Rbacv1Subject subject) => new()
    {
        ApiVersion = Rbac + "/v1",
        Kind = "ClusterRoleBinding",
        Metadata = Meta(name),
        RoleRef = new V1RoleRef { ApiGroup = Rbac, Kind = "ClusterRole", Name = clusterRole },
        Subjects = [subject],
    };

    private static V1RoleBinding BindRole(string name, string @namespace, string role, Rbacv1Subject subject) => new()
    {
        ApiVersion = Rbac + "/v1",
        Kind = "RoleBinding",
        Metadata = Meta(name, @namespace),
        RoleRef = new V1RoleRef { ApiGroup = Rbac, Kind = "Role", Name = role },
        Subjects = [subject],
    };

    private static Rbacv1Subject KubeSystemServiceAccount(string name) => new() { Kind = "ServiceAccount", Name = name, NamespaceProperty = "kube-system" };

    /// <summary>Where the CNI configuration and plugins live on the machines (containerd's CRI plugin reads them there).</summary>
    public const string CniConfDir = "/etc/cni/net.d";
    public const string CniBinDir = "/opt/cni/bin";
}
