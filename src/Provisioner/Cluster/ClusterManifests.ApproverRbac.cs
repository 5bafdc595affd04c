using k8s.Models;
using Provisioner.Pki;
using Provisioner.Profiles;

namespace Provisioner.Cluster;

// Provisioner's CSR approver: its ClusterRole and kube-system Role, bound to the approver user.
internal static partial class ClusterManifests
{
    public const string ApproverRole = "provisioner:approver";

    /// <summary>
    /// What Provisioner's CSR approver may do, and no more: read and approve CSRs for the two kubelet signers,
    /// read nodes, record events; in kube-system manage bootstrap-token Secrets and its leader-election lease.
    /// </summary>
    public static IReadOnlyList<object> ApproverRbac()
    {
        var user = new Rbacv1Subject { ApiGroup = Rbac, Kind = "User", Name = ClusterPkiPlan.ApproverUser };
        return
        [
            new V1ClusterRole
            {
                ApiVersion = Rbac + "/v1",
                Kind = "ClusterRole",
                Metadata = Meta(ApproverRole),
                Rules =
                [
                    new V1PolicyRule { ApiGroups = ["certificates.k8s.io"], Resources = ["certificatesigningrequests"], Verbs = ["get", "list", "watch"] },
                    new V1PolicyRule { ApiGroups = ["certificates.k8s.io"], Resources = ["certificatesigningrequests/approval"], Verbs = ["update"] },
                    new V1PolicyRule
                    {
                        ApiGroups = ["certificates.k8s.io"], Resources = ["signers"], Verbs = ["approve"],
                        ResourceNames = ["kubernetes.io/kube-apiserver-client-kubelet", "kubernetes.io/kubelet-serving"],
                    },
                    new V1PolicyRule { ApiGroups = [""], Resources = ["nodes"], Verbs = ["get", "list", "watch"] },
                    new V1PolicyRule { ApiGroups = ["", "events.k8s.io"], Resources = ["events"], Verbs = ["create", "patch"] },
                ],
            },
            BindClusterRole(ApproverRole, ApproverRole, user),
            new V1Role
            {
                ApiVersion = Rbac + "/v1",
                Kind = "Role",
                Metadata = Meta(ApproverRole, "kube-system"),
                Rules =
                [
                    new V1PolicyRule { ApiGroups = [""], Resources = ["secrets"], Verbs = ["get", "list", "watch", "create", "delete"] },
                    new V1PolicyRule { ApiGroups = ["coordination.k8s.io"], Resources = ["leases"], Verbs = ["get", "create", "update"] },
                ],
            },
            BindRole(ApproverRole, "kube-system", ApproverRole, user),
        ];
    }
}
