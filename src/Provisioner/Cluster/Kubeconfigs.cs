using System.Text;
using k8s;
using k8s.KubeConfigModels;
using KubeCluster = k8s.KubeConfigModels.Cluster;

namespace Provisioner.Cluster;

/// <summary>
/// kubeconfig files with everything embedded (<c>*-data</c> fields), so a file is complete on its own and can
/// be copied to a machine or an operator's laptop. Serialized through KubernetesClient's own model, which is
/// what client-go's loader reads too.
/// </summary>
public static class Kubeconfigs
{
    /// <summary>A client-certificate kubeconfig (admin, controller-manager, scheduler, approver).</summary>
    public static string ForCertificate(string clusterName, string server, string caPem, string user, string certPem, string keyPem) =>
        Build(clusterName, server, caPem, user, new UserCredentials
        {
            ClientCertificateData = Base64(certPem),
            ClientKeyData = Base64(keyPem),
        });

    /// <summary>A kubelet's bootstrap kubeconfig: the cluster CA and the machine's own bootstrap token.</summary>
    public static string ForToken(string clusterName, string server, string caPem, string user, string token) =>
        Build(clusterName, server, caPem, user, new UserCredentials { Token = token });

    /// <summary>The <c>kube-public/cluster-info</c> kubeconfig: cluster only, no user (as kubeadm publishes it).</summary>
    public static string ClusterOnly(string server, string caPem)
    {
        var config = new K8SConfiguration
        {
            ApiVersion = "v1",
            Kind = "Config",
            Clusters = [new KubeCluster { Name = "", ClusterEndpoint = new ClusterEndpoint { Server = server, CertificateAuthorityData = Base64(caPem) } }],
            Contexts = [],
            Users = [],
        };
        return KubernetesYaml.Serialize(config);
    }

    private static string Build(string clusterName, string server, string caPem, string user, UserCredentials credentials)
    {
        var context = $"{user}@{clusterName}";
        var config = new K8SConfiguration
        {
            ApiVersion = "v1",
            Kind = "Config",
            CurrentContext = context,
            Clusters = [new KubeCluster { Name = clusterName, ClusterEndpoint = new ClusterEndpoint { Server = server, CertificateAuthorityData = Base64(caPem) } }],
            Contexts = [new Context { Name = context, ContextDetails = new ContextDetails { Cluster = clusterName, User = user } }],
            Users = [new User { Name = user, UserCredentials = credentials }],
        };
        return KubernetesYaml.Serialize(config);
    }

    private static string Base64(string pem) => Convert.ToBase64String(Encoding.ASCII.GetBytes(pem));
}
