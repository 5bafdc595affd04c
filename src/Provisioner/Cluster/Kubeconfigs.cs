using System.Text;
using System.Text.Json;

namespace Provisioner.Cluster;

/// <summary>
/// kubeconfig files with everything embedded (<c>*-data</c> fields), so a file is complete on its own and can
/// be copied to a machine or an operator's laptop. Written directly rather than through a YAML serializer: one
/// is rendered per machine and the serializer cost milliseconds each. Every value is emitted as a JSON string,
/// which is a valid YAML double-quoted scalar, so no name or URL can change the document's structure; the tests
/// load the result with KubernetesClient's own loader.
/// </summary>
internal static class Kubeconfigs
{
    /// <summary>A client-certificate kubeconfig (admin, controller-manager, scheduler, approver).</summary>
    public static string ForCertificate(string clusterName, string server, string caPem, string user, string certPem, string keyPem) =>
        Build(clusterName, server, caPem, user, $"""
                client-certificate-data: {Q(Base64(certPem))}
                client-key-data: {Q(Base64(keyPem))}
            """);

    /// <summary>A kubelet's bootstrap kubeconfig: the cluster CA and the machine's own bootstrap token.</summary>
    public static string ForToken(string clusterName, string server, string caPem, string user, string token) =>
        Build(clusterName, server, caPem, user, $"""
                token: {Q(token)}
            """);

    /// <summary>The <c>kube-public/cluster-info</c> kubeconfig: cluster only, no user (as kubeadm publishes it).</summary>
    public static string ClusterOnly(string server, string caPem) => $"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: ""
          cluster:
            certificate-authority-data: {Q(Base64(caPem))}
            server: {Q(server)}
        contexts: []
        users: []
        preferences: {"{}"}

        """;

    private static string Build(string clusterName, string server, string caPem, string user, string credentials)
    {
        var context = $"{user}@{clusterName}";
        return $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: {Q(clusterName)}
              cluster:
                certificate-authority-data: {Q(Base64(caPem))}
                server: {Q(server)}
            contexts:
            - name: {Q(context)}
              context:
                cluster: {Q(clusterName)}
                user: {Q(user)}
            current-context: {Q(context)}
            users:
            - name: {Q(user)}
              user:
            {credentials}
            preferences: {"{}"}

            """;
    }

    private static string Q(string value) => JsonSerializer.Serialize(value);

    private static string Base64(string pem) => Convert.ToBase64String(Encoding.ASCII.GetBytes(pem));
}
