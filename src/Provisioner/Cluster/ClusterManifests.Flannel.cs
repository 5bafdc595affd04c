using k8s.Models;
using Provisioner.Pki;
using Provisioner.Profiles;

namespace Provisioner.Cluster;

// The flannel pod network (VXLAN over podCidr).
internal static partial class ClusterManifests
{
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
