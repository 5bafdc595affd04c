using System.Globalization;
using Provisioner.Cluster;
using Provisioner.Profiles;
using Provisioner.Primitives;

namespace Provisioner.Rendering;

/// <summary>
/// The values a template sees: <c>cluster</c>, <c>role</c>, <c>machine</c> and <c>provisioner</c>.
/// Every key is always present (empty string or false when unset) so that templates can run with
/// strict variables: a misspelt name is an error at validation time, not an empty string at boot time.
/// Cluster material (CA certificate, bootstrap kubeconfig, the files the machine's role gets) comes from
/// <paramref name="material"/>; without it, placeholders of the same shape are used (validation renders).
/// </summary>
internal static class TemplateValues
{
    public static IReadOnlyDictionary<string, object> For(ProfileSet profiles, MachineSpec machine, Uri provisionerBaseUrl, MachineMaterial? material = null)
    {
        try { material ??= MachineMaterial.Placeholder(profiles, machine); }
        catch (ClusterRenderException e) { throw new TemplateException(profiles.Directory, e.Message); }
        var topology = material.Assets.Topology;
        var cluster = profiles.Cluster;
        var role = profiles.Roles[machine.Role];
        var labels = role.Labels.SetItems(machine.Labels);
        var net = machine.Network;
        var baseUrl = provisionerBaseUrl.ToString().TrimEnd('/');
        var primaryMac = machine.Select.Macs.IsEmpty ? "" : machine.Select.Macs[0].ToString();
        return new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["cluster"] = new Dictionary<string, object>(StringComparer.Ordinal)
            {
                ["name"] = cluster.Name,
                ["base_domain"] = cluster.BaseDomain,
                ["domain"] = cluster.Domain,
                ["api_endpoint"] = cluster.ApiEndpoint,
                ["api_vip"] = cluster.ApiVip?.ToString() ?? "",
                ["kubernetes_version"] = cluster.KubernetesVersion,
                ["pod_cidr"] = cluster.PodCidr.ToString(),
                ["service_cidr"] = cluster.ServiceCidr.ToString(),
                ["cluster_dns"] = cluster.ClusterDns.ToString(),
                ["cluster_domain"] = cluster.ClusterDomain,
                ["ssh_authorized_keys"] = cluster.SshAuthorizedKeys.ToArray(),
                ["api_server_url"] = topology.ApiServerUrl,
                ["ca_crt"] = material.Assets.CaCertificate,
                ["single_machine"] = topology.SingleMachine,
                ["control_plane_machines"] = topology.ControlPlane.Select(m => m.Name).ToArray(),
                ["etcd_servers"] = topology.EtcdServers,
                // By the release's digests when it names the component (static pods, add-ons, kubelet, kubectl, containerd's sandbox).
                ["images"] = ClusterImages.All(profiles).ToDictionary(i => i.Key.Replace('-', '_'), i => (object)i.Value, StringComparer.Ordinal),
                // From v1.27 the container runtime goes in the KubeletConfiguration; an older kubelet refuses that field
                // (strict decoding) and needs --container-runtime-endpoint instead.
                // The pod network: flannel (rendered into manifests/) or none (the operator brings a CNI).
                ["network"] = cluster.Network,
                ["kubelet_config_has_runtime_endpoint"] = KubernetesReleases.For(cluster.KubernetesVersion).KubeletConfigHasContainerRuntimeEndpoint,
            },
            ["role"] = new Dictionary<string, object>(StringComparer.Ordinal)
            {
                ["name"] = role.Name,
            },
            ["machine"] = new Dictionary<string, object>(StringComparer.Ordinal)
            {
                ["name"] = machine.Name,
                ["fqdn"] = machine.Fqdn(cluster),
                ["role"] = machine.Role,
                ["mac"] = primaryMac,
                ["install_disk"] = profiles.InstallDiskOf(machine) ?? "",
                // Install mode (installDisk on the machine or its role): the config is the installed system's.
                ["installs"] = profiles.InstallDiskOf(machine) is not null,
                // kubelet's --node-labels / --register-with-taints formats, ready to paste into a unit.
                ["node_labels"] = string.Join(',', labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")),
                ["node_taints"] = string.Join(',', role.Taints.Select(t => $"{t.Key}{(t.Value is null ? "" : "=" + t.Value)}:{t.Effect}")),
                // bootstrap, control-plane or worker: what the machine does in the bootstrap topology.
                ["kind"] = material.Kind switch { MachineKind.Bootstrap => "bootstrap", MachineKind.ControlPlane => "control-plane", _ => "worker" },
                ["node_ip"] = net.Address?.ToString() ?? "",
                // The node name must be the machine name: Provisioner's CSR approver checks it against the token's machine.
                ["hostname_override"] = machine.Name,
                // What the kubelet may set on itself (--node-labels); node-role.kubernetes.io/* and other reserved
                // labels are refused by the kubelet and applied by bootkube instead.
                ["kubelet_node_labels"] = string.Join(',', labels.Where(l => KubeletLabels.SelfSettable(l.Key)).OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")),
                ["joins_with_token"] = material.Token is not null,
                ["bootstrap_kubeconfig"] = material.BootstrapKubeconfig,
                // storage.files entries for the keys, certificates, kubeconfigs and manifests this machine's role gets.
                ["cluster_files"] = material.IgnitionFiles(),
                ["network"] = new Dictionary<string, object>(StringComparer.Ordinal)
                {
                    ["dhcp"] = net.Dhcp,
                    ["static"] = !net.Dhcp,
                    ["interface"] = net.Interface ?? "",
                    ["mac"] = primaryMac,
                    ["address"] = net.Address?.ToString() ?? "",
                    ["prefix"] = net.PrefixLength?.ToString(CultureInfo.InvariantCulture) ?? "",
                    ["cidr"] = net.Address is null ? "" : $"{net.Address}/{net.PrefixLength}",
                    ["gateway"] = net.Gateway?.ToString() ?? "",
                    ["dns"] = net.Dns.Select(d => d.ToString()).ToArray(),
                },
            },
            ["provisioner"] = new Dictionary<string, object>(StringComparer.Ordinal)
            {
                ["base_url"] = baseUrl,
                ["ignition_url"] = $"{baseUrl}/ignition?mac={Uri.EscapeDataString(primaryMac)}",
                ["progress_url"] = $"{baseUrl}/api/v1/progress",
            },
            ["release"] = ReleaseTemplateValues.For(profiles.Release, provisionerBaseUrl),
        };
    }
}
