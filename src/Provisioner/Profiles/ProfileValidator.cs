using System.Collections.Immutable;
using System.Net;

namespace Provisioner.Profiles;

/// <summary>
/// The checks across sections and files, once every section is read: unique machine names, selectors and addresses,
/// roles that exist, addresses outside the cluster's CIDRs, a release that matches the cluster and names every image.
/// </summary>
internal static class ProfileValidator
{
    /// <summary>The profile set when every check passes; null (with the problems in <paramref name="diagnostics"/>) otherwise.</summary>
    public static ProfileSet? Validate(ClusterSpec? clusterSection, IReadOnlyDictionary<string, RoleSpec> roles,
        IReadOnlyList<(MachineSpec Spec, YamlNodeReader Reader)> machines, (ReleaseSpec? Spec, YamlNodeReader Reader)? releaseSection,
        List<ProfileDiagnostic> diagnostics, string root)
    {
        if (clusterSection is not { } cluster)
        {
            diagnostics.Add(new(root, 0, 0, "cluster", "no 'cluster' section found in any profile file"));
            return null;
        }
        var names = new Dictionary<string, MachineSpec>(StringComparer.Ordinal);
        var selectors = new Dictionary<string, MachineSpec>(StringComparer.Ordinal);
        var addresses = new Dictionary<IPAddress, MachineSpec>();
        foreach (var (m, r) in machines)
        {
            if (names.TryGetValue(m.Name, out var dup))
                r.FieldError("name", $"machine name '{m.Name}' is already used at {dup.Location}");
            else names[m.Name] = m;

            if (!roles.ContainsKey(m.Role))
                r.FieldError("role",
                    $"role '{m.Role}' does not exist (defined roles: {string.Join(", ", roles.Keys.Order(StringComparer.Ordinal))})");

            foreach (var (key, field) in SelectorKeys(m))
            {
                if (selectors.TryGetValue(key, out var other) && other.Name != m.Name)
                    r.FieldError("select", "select." + field,
                        $"{key} is also claimed by machine '{other.Name}' at {other.Location}; a selector must identify one machine");
                else selectors[key] = m;
            }

            if (m.Network.Address is { } ip)
            {
                if (addresses.TryGetValue(ip, out var owner))
                    r.FieldError("network", "network.address", $"address {ip} is also used by machine '{owner.Name}' at {owner.Location}");
                else addresses[ip] = m;
                if (cluster.PodCidr.Contains(ip) || cluster.ServiceCidr.Contains(ip))
                    r.FieldError("network", "network.address", $"address {ip} lies inside the cluster's pod or service CIDR");
            }
        }
        if (releaseSection is ({ } rel, var relReader) && rel.KubernetesVersion != cluster.KubernetesVersion)
            relReader.FieldError("kubernetesVersion",
                $"the release is {rel.KubernetesVersion} but the cluster says kubernetesVersion {cluster.KubernetesVersion}");
        // The release must name every image this topology runs: the always-needed ones are checked with the
        // section itself; the pod network's depend on cluster.network.
        if (releaseSection is ({ } release, var releaseReader) && releaseReader.Mapping("images") is { } releaseImages)
            foreach (var missing in ClusterImages.Needed(cluster)
                         .Except(ReleaseSpec.RequiredComponents).Where(c => release.Images.All(i => i.Component != c)))
                releaseImages.Error($"the '{missing}' image is missing (cluster.network is {cluster.Network}, so the release names {string.Join(", ", ClusterImages.Needed(cluster))})");
        if (diagnostics.Count > 0) return null;
        return new ProfileSet(cluster,
            roles.ToImmutableDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal),
            [.. machines.Select(m => m.Spec)], root) { Release = releaseSection?.Spec };
    }

    private static IEnumerable<(string Key, string Field)> SelectorKeys(MachineSpec m)
    {
        foreach (var mac in m.Select.Macs) yield return ($"mac {mac}", "mac");
        if (m.Select.Uuid is { } u) yield return ($"uuid {u}", "uuid");
        if (m.Select.Serial is { } s) yield return ($"serial '{s}'", "serial");
        if (m.Select.Hostname is { } h) yield return ($"hostname '{h.ToLowerInvariant()}'", "hostname");
    }
}
