using k8s.Models;
using Provisioner.Pki;
using Provisioner.Profiles;

namespace Provisioner.Cluster;

// CoreDNS: its service account, RBAC, Corefile, Deployment and the kube-dns Service.
internal static partial class ClusterManifests
{
    public static IReadOnlyList<object> CoreDns(ClusterTopology topology)
    {
        var cluster = topology.Cluster;
        var labels = new Dictionary<string, string> { ["k8s-app"] = "kube-dns" };
        var corefile = $$"""
            .:53 {
                errors
                health {
                   lameduck 5s
                }
                ready
                kubernetes {{cluster.ClusterDomain}} in-addr.arpa ip6.arpa {
                   pods insecure
                   fallthrough in-addr.arpa ip6.arpa
                   ttl 30
                }
                prometheus :9153
                forward . /etc/resolv.conf {
                   max_concurrent 1000
                }
                cache 30
                loop
                reload
                loadbalance
            }

            """;
        return
        [
            new V1ServiceAccount { ApiVersion = "v1", Kind = "ServiceAccount", Metadata = Meta("coredns", "kube-system") },
            new V1ClusterRole
            {
                ApiVersion = Rbac + "/v1",
                Kind = "ClusterRole",
                Metadata = Meta("system:coredns"),
                Rules =
                [
                    new V1PolicyRule { ApiGroups = [""], Resources = ["endpoints", "services", "pods", "namespaces"], Verbs = ["list", "watch"] },
                    new V1PolicyRule { ApiGroups = ["discovery.k8s.io"], Resources = ["endpointslices"], Verbs = ["list", "watch"] },
                ],
            },
            BindClusterRole("system:coredns", "system:coredns", KubeSystemServiceAccount("coredns")),
            new V1ConfigMap
            {
                ApiVersion = "v1",
                Kind = "ConfigMap",
                Metadata = Meta("coredns", "kube-system"),
                Data = new Dictionary<string, string> { ["Corefile"] = corefile },
            },
            new V1Deployment
            {
                ApiVersion = "apps/v1",
                Kind = "Deployment",
                Metadata = Meta("coredns", "kube-system", labels),
                Spec = new V1DeploymentSpec
                {
                    Replicas = topology.SingleMachine ? 1 : 2,
                    Selector = new V1LabelSelector { MatchLabels = labels },
                    Template = new V1PodTemplateSpec
                    {
                        Metadata = new V1ObjectMeta { Labels = labels },
                        Spec = new V1PodSpec
                        {
                            PriorityClassName = "system-cluster-critical",
                            ServiceAccountName = "coredns",
                            DnsPolicy = "Default",
                            NodeSelector = new Dictionary<string, string> { ["kubernetes.io/os"] = "linux" },
                            Tolerations =
                            [
                                new V1Toleration { Key = "CriticalAddonsOnly", OperatorProperty = "Exists" },
                                new V1Toleration { Key = "node-role.kubernetes.io/control-plane", Effect = "NoSchedule" },
                            ],
                            Containers =
                            [
                                new V1Container
                                {
                                    Name = "coredns",
                                    Image = ClusterImages.For(topology.Profiles, ClusterImages.CoreDns),
                                    ImagePullPolicy = "IfNotPresent",
                                    Args = ["-conf", "/etc/coredns/Corefile"],
                                    Ports =
                                    [
                                        new V1ContainerPort { Name = "dns", ContainerPort = 53, Protocol = "UDP" },
                                        new V1ContainerPort { Name = "dns-tcp", ContainerPort = 53, Protocol = "TCP" },
                                        new V1ContainerPort { Name = "metrics", ContainerPort = 9153, Protocol = "TCP" },
                                    ],
                                    Resources = new V1ResourceRequirements
                                    {
                                        Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new("100m"), ["memory"] = new("70Mi") },
                                        Limits = new Dictionary<string, ResourceQuantity> { ["memory"] = new("170Mi") },
                                    },
                                    LivenessProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/health", Port = 8080, Scheme = "HTTP" }, InitialDelaySeconds = 60, TimeoutSeconds = 5 },
                                    ReadinessProbe = new V1Probe { HttpGet = new V1HTTPGetAction { Path = "/ready", Port = 8181, Scheme = "HTTP" } },
                                    SecurityContext = new V1SecurityContext
                                    {
                                        AllowPrivilegeEscalation = false,
                                        ReadOnlyRootFilesystem = true,
                                        Capabilities = new V1Capabilities { Add = ["NET_BIND_SERVICE"], Drop = ["ALL"] },
                                    },
                                    VolumeMounts = [new V1VolumeMount { Name = "config-volume", MountPath = "/etc/coredns", ReadOnlyProperty = true }],
                                },
                            ],
                            Volumes = [new V1Volume { Name = "config-volume", ConfigMap = new V1ConfigMapVolumeSource { Name = "coredns" } }],
                        },
                    },
                },
            },
            new V1Service
            {
                ApiVersion = "v1",
                Kind = "Service",
                Metadata = Meta("kube-dns", "kube-system", new Dictionary<string, string>(labels) { ["kubernetes.io/name"] = "CoreDNS" }),
                Spec = new V1ServiceSpec
                {
                    ClusterIP = cluster.ClusterDns.ToString(),
                    Selector = labels,
                    Ports =
                    [
                        new V1ServicePort { Name = "dns", Port = 53, Protocol = "UDP", TargetPort = 53 },
                        new V1ServicePort { Name = "dns-tcp", Port = 53, Protocol = "TCP", TargetPort = 53 },
                        new V1ServicePort { Name = "metrics", Port = 9153, Protocol = "TCP", TargetPort = 9153 },
                    ],
                },
            },
        ];
    }
}
