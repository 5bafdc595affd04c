using System.Globalization;
using Provisioner.Profiles;

namespace Provisioner.Rendering;

/// <summary>
/// The values a template sees: <c>cluster</c>, <c>role</c>, <c>machine</c> and <c>provisioner</c>.
/// Every key is always present (empty string or false when unset) so that templates can run with
/// strict variables: a misspelt name is an error at validation time, not an empty string at boot time.
/// </summary>
public static class TemplateValues
{
    public static IReadOnlyDictionary<string, object> For(ProfileSet profiles, MachineSpec machine, Uri provisionerBaseUrl)
    {
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
                ["install_disk"] = machine.InstallDisk ?? "",
                // kubelet's --node-labels / --register-with-taints formats, ready to paste into a unit.
                ["node_labels"] = string.Join(',', labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => $"{l.Key}={l.Value}")),
                ["node_taints"] = string.Join(',', role.Taints.Select(t => $"{t.Key}{(t.Value is null ? "" : "=" + t.Value)}:{t.Effect}")),
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
            },
            ["release"] = Release.ReleaseTemplateValues.For(profiles.Release, provisionerBaseUrl),
        };
    }
}
