using k8s.Models;
using Provisioner.Pki;
using Provisioner.Profiles;

namespace Provisioner.Cluster;

// kube-proxy: its service account, RBAC, ConfigMap and DaemonSet.
internal static partial class ClusterManifests
{
    public static IReadOnlyList<object> KubeProxy(ClusterTopology topology)
    {
        var cluster = topology.Cluster;
        var labels = new Dictionary<string, string> { ["k8s-app"] = "kube-proxy" };
        // The in-cluster service account token, but the API endpoint rather than the service IP: kube-proxy
        // is what makes the service IP work in the first place.
        var kubeconfig = $"""
            apiVersion: v1
            kind: Config
            clusters:
            - name: default
              cluster:
                certificate-authority: /var/run/secrets/kubernetes.io/serviceaccount/ca.crt
                server: {topology.ApiServerUrl}
            contexts:
            - name: default
              context:
                cluster: default
                namespace: default
                user: default
            current-context: default
            users:
            - name: default
              user:
                tokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token

            """;
        var config = $"""
            apiVersion: kubeproxy.config.k8s.io/v1alpha1
            kind: KubeProxyConfiguration
            clientConnection:
              kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
            clusterCIDR: {cluster.PodCidr}
            mode: iptables

            """;
        return
        [
            new V1ServiceAccount { ApiVersion = "v1", Kind = "ServiceAccount", Metadata = Meta("kube-proxy", "kube-system") },
            BindClusterRole("provisioner:node-proxier", "system:node-proxier", KubeSystemServiceAccount("kube-proxy")),
            new V1ConfigMap
            {
                ApiVersion = "v1",
                Kind = "ConfigMap",
                Metadata = Meta("kube-proxy", "kube-system", labels),
                Data = new Dictionary<string, string> { ["config.conf"] = config, ["kubeconfig.conf"] = kubeconfig },
            },
            NodeAgent("kube-proxy", labels, "kube-proxy", new V1PodSpec
            {
                Containers =
                [
                    new V1Container
                    {
                        Name = "kube-proxy",
                        Image = ClusterImages.For(topology.Profiles, ClusterImages.Proxy),
                        ImagePullPolicy = "IfNotPresent",
                        Command = ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"],
                        Env = [new V1EnvVar { Name = "NODE_NAME", ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = "spec.nodeName" } } }],
                        SecurityContext = new V1SecurityContext { Privileged = true },
                        VolumeMounts =
                        [
                            new V1VolumeMount { Name = "kube-proxy", MountPath = "/var/lib/kube-proxy" },
                            new V1VolumeMount { Name = "xtables-lock", MountPath = "/run/xtables.lock" },
                            new V1VolumeMount { Name = "lib-modules", MountPath = "/lib/modules", ReadOnlyProperty = true },
                        ],
                    },
                ],
                Volumes =
                [
                    new V1Volume { Name = "kube-proxy", ConfigMap = new V1ConfigMapVolumeSource { Name = "kube-proxy" } },
                    new V1Volume { Name = "xtables-lock", HostPath = new V1HostPathVolumeSource { Path = "/run/xtables.lock", Type = "FileOrCreate" } },
                    new V1Volume { Name = "lib-modules", HostPath = new V1HostPathVolumeSource { Path = "/lib/modules" } },
                ],
            }),
        ];
    }
}
