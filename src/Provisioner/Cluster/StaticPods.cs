using k8s.Models;
using Provisioner.Pki;
using Provisioner.Profiles;

namespace Provisioner.Cluster;

/// <summary>
/// The control plane as static pods, kubeadm style: the kubelet starts them from <c>/etc/kubernetes/manifests</c>
/// with no API server, so a rebooted control-plane machine comes back without a checkpointer.
/// The bootstrap machine's temporary control plane uses the same builders with its own etcd endpoints.
/// </summary>
internal static class StaticPods
{
    /// <summary>The temporary control plane of <c>bootstrap-manifests/</c> (plus etcd in a single-machine cluster).</summary>
    public static IReadOnlyList<(string FileName, V1Pod Pod)> ForBootstrap(ClusterTopology topology, MachineSpec bootstrap)
    {
        var pods = new List<(string, V1Pod)>();
        if (topology.SingleMachine)
        {
            pods.Add(("etcd.yaml", Etcd(topology, bootstrap)));
            pods.Add(("kube-apiserver.yaml", ApiServer(topology, bootstrap, "https://127.0.0.1:2379", bootstrapPrefix: false)));
        }
        else
        {
            pods.Add(("kube-apiserver.yaml", ApiServer(topology, bootstrap, topology.EtcdServers, bootstrapPrefix: true)));
        }
        pods.Add(("kube-controller-manager.yaml", ControllerManager(topology, bootstrapPrefix: !topology.SingleMachine)));
        pods.Add(("kube-scheduler.yaml", Scheduler(topology, bootstrapPrefix: !topology.SingleMachine)));
        return pods;
    }

    /// <summary>A control-plane machine's own static pods: its etcd member and the control-plane components.</summary>
    public static IReadOnlyList<(string FileName, V1Pod Pod)> ForControlPlane(ClusterTopology topology, MachineSpec machine) =>
    [
        ("etcd.yaml", Etcd(topology, machine)),
        // The local member only, as kubeadm does: the API server on a control-plane machine lives and dies with it.
        ("kube-apiserver.yaml", ApiServer(topology, machine, "https://127.0.0.1:2379", bootstrapPrefix: false)),
        ("kube-controller-manager.yaml", ControllerManager(topology, bootstrapPrefix: false)),
        ("kube-scheduler.yaml", Scheduler(topology, bootstrapPrefix: false)),
    ];

    public static V1Pod Etcd(ClusterTopology topology, MachineSpec member)
    {
        string Pki(string file) => MachinePaths.PkiFile("etcd/" + file);
        var host = topology.HostOf(member);
        var listen = topology.ListenHostOf(member);
        var args = new[]
        {
            "etcd",
            $"--name={member.Name}",
            $"--data-dir={MachinePaths.EtcdData}",
            $"--advertise-client-urls=https://{host}:{ClusterTopology.EtcdClientPort}",
            $"--listen-client-urls=https://127.0.0.1:{ClusterTopology.EtcdClientPort},https://{listen}:{ClusterTopology.EtcdClientPort}",
            $"--initial-advertise-peer-urls=https://{host}:{ClusterTopology.EtcdPeerPort}",
            $"--listen-peer-urls=https://{listen}:{ClusterTopology.EtcdPeerPort}",
            $"--initial-cluster={topology.InitialCluster}",
            "--initial-cluster-state=new",
            $"--initial-cluster-token={topology.Cluster.Name}",
            "--listen-metrics-urls=http://127.0.0.1:2381",
            "--client-cert-auth=true",
            $"--trusted-ca-file={Pki("ca.crt")}",
            $"--cert-file={Pki("server.crt")}",
            $"--key-file={Pki("server.key")}",
            "--peer-client-cert-auth=true",
            $"--peer-trusted-ca-file={Pki("ca.crt")}",
            $"--peer-cert-file={Pki("peer.crt")}",
            $"--peer-key-file={Pki("peer.key")}",
            "--snapshot-count=10000",
        };
        return Pod("etcd", ClusterImages.For(topology.Profiles, ClusterImages.Etcd), args,
            probe: HttpProbe("/health?exclude=NOSPACE&serializable=true", 2381, "HTTP"),
            requests: ("100m", "100Mi"),
            mounts: [("etcd-data", MachinePaths.EtcdData, false, "DirectoryOrCreate"), ("etcd-certs", MachinePaths.Pki + "/etcd", true, "Directory")]);
    }

    public static V1Pod ApiServer(ClusterTopology topology, MachineSpec machine, string etcdServers, bool bootstrapPrefix)
    {
        var cluster = topology.Cluster;
        var args = new List<string> { "kube-apiserver" };
        if (machine.Network.Address is { } ip) args.Add($"--advertise-address={ip}");
        args.AddRange(
        [
            "--allow-privileged=true",
            "--authorization-mode=Node,RBAC",
            $"--client-ca-file={MachinePaths.PkiFile("ca.crt")}",
            "--enable-admission-plugins=NodeRestriction",
            "--enable-bootstrap-token-auth=true",
            $"--etcd-cafile={MachinePaths.PkiFile("etcd/ca.crt")}",
            $"--etcd-certfile={MachinePaths.PkiFile("apiserver-etcd-client.crt")}",
            $"--etcd-keyfile={MachinePaths.PkiFile("apiserver-etcd-client.key")}",
            $"--etcd-servers={etcdServers}",
            $"--kubelet-client-certificate={MachinePaths.PkiFile("apiserver-kubelet-client.crt")}",
            $"--kubelet-client-key={MachinePaths.PkiFile("apiserver-kubelet-client.key")}",
            "--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
            $"--proxy-client-cert-file={MachinePaths.PkiFile("front-proxy-client.crt")}",
            $"--proxy-client-key-file={MachinePaths.PkiFile("front-proxy-client.key")}",
            "--requestheader-allowed-names=front-proxy-client",
            $"--requestheader-client-ca-file={MachinePaths.PkiFile("front-proxy-ca.crt")}",
            "--requestheader-extra-headers-prefix=X-Remote-Extra-",
            "--requestheader-group-headers=X-Remote-Group",
            "--requestheader-username-headers=X-Remote-User",
            $"--secure-port={ClusterTopology.ApiServerPort}",
            $"--service-account-issuer=https://kubernetes.default.svc.{cluster.ClusterDomain}",
            $"--service-account-key-file={MachinePaths.PkiFile(ClusterPkiPlan.ServiceAccountPublicKeyFile)}",
            $"--service-account-signing-key-file={MachinePaths.PkiFile(ClusterPkiPlan.ServiceAccountKeyFile)}",
            $"--service-cluster-ip-range={cluster.ServiceCidr}",
            $"--tls-cert-file={MachinePaths.PkiFile("apiserver.crt")}",
            $"--tls-private-key-file={MachinePaths.PkiFile("apiserver.key")}",
        ]);
        return Pod(Name("kube-apiserver", bootstrapPrefix), ClusterImages.For(topology.Profiles, ClusterImages.ApiServer), args,
            probe: HttpProbe("/livez", ClusterTopology.ApiServerPort, "HTTPS"),
            requests: ("250m", null),
            mounts: [("k8s-certs", MachinePaths.Pki, true, "Directory"), ("ca-certs", "/etc/ssl/certs", true, "DirectoryOrCreate")]);
    }

    public static V1Pod ControllerManager(ClusterTopology topology, bool bootstrapPrefix)
    {
        var cluster = topology.Cluster;
        const string kubeconfig = MachinePaths.ControllerManagerKubeconfig;
        var args = new[]
        {
            "kube-controller-manager",
            "--allocate-node-cidrs=true",
            $"--authentication-kubeconfig={kubeconfig}",
            $"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            $"--client-ca-file={MachinePaths.PkiFile("ca.crt")}",
            $"--cluster-cidr={cluster.PodCidr}",
            $"--cluster-name={cluster.Name}",
            // Signs the CSRs Provisioner approves (kubelet client and serving certificates).
            $"--cluster-signing-cert-file={MachinePaths.PkiFile("ca.crt")}",
            $"--cluster-signing-key-file={MachinePaths.PkiFile("ca.key")}",
            // bootstrapsigner signs cluster-info for token holders; tokencleaner deletes expired token Secrets.
            // csrapproving is off: Provisioner is the only approver of kubelet CSRs, and the built-in controller would
            // approve a node-client CSR Provisioner deliberately left pending (anyone bound to the nodeclient roles).
            "--controllers=*,bootstrapsigner,tokencleaner,-csrapproving",
            $"--kubeconfig={kubeconfig}",
            "--leader-elect=true",
            $"--requestheader-client-ca-file={MachinePaths.PkiFile("front-proxy-ca.crt")}",
            $"--root-ca-file={MachinePaths.PkiFile("ca.crt")}",
            $"--service-account-private-key-file={MachinePaths.PkiFile(ClusterPkiPlan.ServiceAccountKeyFile)}",
            $"--service-cluster-ip-range={cluster.ServiceCidr}",
            "--use-service-account-credentials=true",
        };
        return Pod(Name("kube-controller-manager", bootstrapPrefix), ClusterImages.For(topology.Profiles, ClusterImages.ControllerManager), args,
            probe: HttpProbe("/healthz", 10257, "HTTPS"),
            requests: ("200m", null),
            mounts: [("k8s-certs", MachinePaths.Pki, true, "Directory"), ("ca-certs", "/etc/ssl/certs", true, "DirectoryOrCreate"),
                     ("kubeconfig", kubeconfig, true, "File")]);
    }

    public static V1Pod Scheduler(ClusterTopology topology, bool bootstrapPrefix)
    {
        const string kubeconfig = MachinePaths.SchedulerKubeconfig;
        var args = new[]
        {
            "kube-scheduler",
            $"--authentication-kubeconfig={kubeconfig}",
            $"--authorization-kubeconfig={kubeconfig}",
            "--bind-address=127.0.0.1",
            $"--kubeconfig={kubeconfig}",
            "--leader-elect=true",
        };
        return Pod(Name("kube-scheduler", bootstrapPrefix), ClusterImages.For(topology.Profiles, ClusterImages.Scheduler), args,
            probe: HttpProbe("/healthz", 10259, "HTTPS"),
            requests: ("100m", null),
            mounts: [("kubeconfig", kubeconfig, true, "File")]);
    }

    /// <summary>Bootstrap pods get their own names, so their mirror pods never clash with the real control plane's.</summary>
    private static string Name(string component, bool bootstrapPrefix) => bootstrapPrefix ? "bootstrap-" + component : component;

    private static V1Probe HttpProbe(string path, int port, string scheme) => new()
    {
        HttpGet = new V1HTTPGetAction { Host = "127.0.0.1", Path = path, Port = port, Scheme = scheme },
        InitialDelaySeconds = 10,
        PeriodSeconds = 10,
        TimeoutSeconds = 15,
        FailureThreshold = 8,
    };

    private static V1Pod Pod(string name, string image, IReadOnlyList<string> command, V1Probe probe, (string Cpu, string? Memory) requests,
        IReadOnlyList<(string Name, string Path, bool ReadOnly, string Type)> mounts)
    {
        var resourceRequests = new Dictionary<string, ResourceQuantity> { ["cpu"] = new(requests.Cpu) };
        if (requests.Memory is { } memory) resourceRequests["memory"] = new(memory);
        return new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Name = name,
                NamespaceProperty = "kube-system",
                Labels = new Dictionary<string, string> { ["component"] = name, ["tier"] = "control-plane" },
            },
            Spec = new V1PodSpec
            {
                HostNetwork = true,
                PriorityClassName = "system-node-critical",
                SecurityContext = new V1PodSecurityContext { SeccompProfile = new V1SeccompProfile { Type = "RuntimeDefault" } },
                Containers =
                [
                    new V1Container
                    {
                        Name = name,
                        Image = image,
                        ImagePullPolicy = "IfNotPresent",
                        Command = [.. command],
                        LivenessProbe = probe,
                        Resources = new V1ResourceRequirements { Requests = resourceRequests },
                        VolumeMounts = [.. mounts.Select(m => new V1VolumeMount { Name = m.Name, MountPath = m.Path, ReadOnlyProperty = m.ReadOnly })],
                    },
                ],
                Volumes = [.. mounts.Select(m => new V1Volume { Name = m.Name, HostPath = new V1HostPathVolumeSource { Path = m.Path, Type = m.Type } })],
            },
        };
    }
}
