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
/// sort in apply order.
/// </summary>
public static class ClusterManifests
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

    /// <summary>Where the CNI configuration and plugins live on the machines (containerd's CRI plugin reads them there).</summary>
    public const string CniConfDir = "/etc/cni/net.d";
    public const string CniBinDir = "/opt/cni/bin";

    /// <summary>
    /// flannel with the VXLAN backend over <c>podCidr</c> (flannel's own kube-flannel.yml, in kube-system): its service
    /// account and RBAC, the ConfigMap with net-conf.json and the CNI conflist, and the DaemonSet whose init containers
    /// install the CNI plugins and the conflist on every node before flanneld starts. The plugin image's
    /// <c>/flannel</c> goes to <c>/opt/cni/bin</c>, and so does every plugin in its own <c>/opt/cni/bin</c> (bridge,
    /// host-local, portmap, loopback: flannel delegates to them and Fedora CoreOS has no <c>/opt/cni/bin</c>).
    /// </summary>
    public static IReadOnlyList<object> Flannel(ClusterTopology topology)
    {
        var cluster = topology.Cluster;
        var labels = new Dictionary<string, string> { ["app"] = "flannel", ["k8s-app"] = "flannel" };
        var ipv6 = cluster.PodCidr.BaseAddress.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        var netConf = ipv6
            ? $$"""
                {
                  "EnableIPv4": false,
                  "EnableIPv6": true,
                  "IPv6Network": "{{cluster.PodCidr}}",
                  "Backend": {
                    "Type": "vxlan"
                  }
                }

                """
            : $$"""
                {
                  "Network": "{{cluster.PodCidr}}",
                  "Backend": {
                    "Type": "vxlan"
                  }
                }

                """;
        const string cniConf = """
            {
              "name": "cbr0",
              "cniVersion": "0.3.1",
              "plugins": [
                {
                  "type": "flannel",
                  "delegate": {
                    "hairpinMode": true,
                    "isDefaultGateway": true
                  }
                },
                {
                  "type": "portmap",
                  "capabilities": {
                    "portMappings": true
                  }
                }
              ]
            }

            """;
        var flannelImage = ClusterImages.For(topology.Profiles, ClusterImages.Flannel);
        var pluginImage = ClusterImages.For(topology.Profiles, ClusterImages.FlannelCniPlugin);
        V1EnvVar Field(string name, string path) => new() { Name = name, ValueFrom = new V1EnvVarSource { FieldRef = new V1ObjectFieldSelector { FieldPath = path } } };
        return
        [
            new V1ServiceAccount { ApiVersion = "v1", Kind = "ServiceAccount", Metadata = Meta("flannel", "kube-system") },
            new V1ClusterRole
            {
                ApiVersion = Rbac + "/v1",
                Kind = "ClusterRole",
                Metadata = Meta("provisioner:flannel"),
                Rules =
                [
                    new V1PolicyRule { ApiGroups = [""], Resources = ["pods"], Verbs = ["get"] },
                    new V1PolicyRule { ApiGroups = [""], Resources = ["nodes"], Verbs = ["get", "list", "watch"] },
                    new V1PolicyRule { ApiGroups = [""], Resources = ["nodes/status"], Verbs = ["patch"] },
                ],
            },
            BindClusterRole("provisioner:flannel", "provisioner:flannel", KubeSystemServiceAccount("flannel")),
            new V1ConfigMap
            {
                ApiVersion = "v1",
                Kind = "ConfigMap",
                Metadata = Meta("kube-flannel-cfg", "kube-system", labels),
                Data = new Dictionary<string, string> { ["cni-conf.json"] = cniConf, ["net-conf.json"] = netConf },
            },
            NodeAgent("kube-flannel", labels, "flannel", new V1PodSpec
            {
                InitContainers =
                [
                    new V1Container
                    {
                        Name = "install-cni-plugin",
                        Image = pluginImage,
                        ImagePullPolicy = "IfNotPresent",
                        Command = ["/bin/sh", "-c",
                            "set -e; cp -f /flannel /host/opt/cni/bin/flannel; " +
                            "for p in /opt/cni/bin/*; do if [ -f \"$p\" ]; then cp -f \"$p\" /host/opt/cni/bin/; fi; done"],
                        VolumeMounts = [new V1VolumeMount { Name = "cni-plugin", MountPath = "/host" + CniBinDir }],
                    },
                    new V1Container
                    {
                        Name = "install-cni",
                        Image = flannelImage,
                        ImagePullPolicy = "IfNotPresent",
                        Command = ["cp"],
                        Args = ["-f", "/etc/kube-flannel/cni-conf.json", CniConfDir + "/10-flannel.conflist"],
                        VolumeMounts =
                        [
                            new V1VolumeMount { Name = "cni", MountPath = CniConfDir },
                            new V1VolumeMount { Name = "flannel-cfg", MountPath = "/etc/kube-flannel/" },
                        ],
                    },
                ],
                Containers =
                [
                    new V1Container
                    {
                        Name = "kube-flannel",
                        Image = flannelImage,
                        ImagePullPolicy = "IfNotPresent",
                        Command = ["/opt/bin/flanneld"],
                        Args = ["--ip-masq", "--kube-subnet-mgr"],
                        Env = [Field("POD_NAME", "metadata.name"), Field("POD_NAMESPACE", "metadata.namespace"), new V1EnvVar { Name = "EVENT_QUEUE_DEPTH", Value = "5000" }],
                        Resources = new V1ResourceRequirements
                        {
                            Requests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new("100m"), ["memory"] = new("50Mi") },
                        },
                        SecurityContext = new V1SecurityContext
                        {
                            Privileged = false,
                            Capabilities = new V1Capabilities { Add = ["NET_ADMIN", "NET_RAW"] },
                        },
                        VolumeMounts =
                        [
                            new V1VolumeMount { Name = "run", MountPath = "/run/flannel" },
                            new V1VolumeMount { Name = "flannel-cfg", MountPath = "/etc/kube-flannel/" },
                            new V1VolumeMount { Name = "xtables-lock", MountPath = "/run/xtables.lock" },
                        ],
                    },
                ],
                Volumes =
                [
                    new V1Volume { Name = "run", HostPath = new V1HostPathVolumeSource { Path = "/run/flannel" } },
                    new V1Volume { Name = "cni-plugin", HostPath = new V1HostPathVolumeSource { Path = CniBinDir, Type = "DirectoryOrCreate" } },
                    new V1Volume { Name = "cni", HostPath = new V1HostPathVolumeSource { Path = CniConfDir, Type = "DirectoryOrCreate" } },
                    new V1Volume { Name = "flannel-cfg", ConfigMap = new V1ConfigMapVolumeSource { Name = "kube-flannel-cfg" } },
                    new V1Volume { Name = "xtables-lock", HostPath = new V1HostPathVolumeSource { Path = "/run/xtables.lock", Type = "FileOrCreate" } },
                ],
            }),
        ];
    }
}
