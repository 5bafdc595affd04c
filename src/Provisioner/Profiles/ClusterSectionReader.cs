using System.Collections.Immutable;
using System.Net;
using YamlDotNet.RepresentationModel;

namespace Provisioner.Profiles;

/// <summary>Reads the <c>cluster</c> section: names, addresses, CIDRs, version, image overrides, pod network.</summary>
internal static class ClusterSectionReader
{
    /// <summary>The <c>cluster</c> section; null when a required field is missing or invalid (each problem reported).</summary>
    public static ClusterSpec? Read(YamlNodeReader r)
    {
        var name = r.String("name", required: true);
        if (name is not null && !ProfileFields.DnsLabel().IsMatch(name))
            r.FieldError("name", $"'{name}' is not a DNS label (lower-case letters, digits and '-')");
        var baseDomain = ProfileFields.CheckDnsName(r, "baseDomain", required: true);
        var apiEndpoint = ProfileFields.CheckDnsNameOrIp(r, "apiEndpoint");
        var apiVip = r.ParsedRef<IPAddress>("apiVip", IPAddress.TryParse, "an IP address");
        var version = r.String("kubernetesVersion", required: true);
        if (version is not null && !ProfileFields.KubernetesVersion().IsMatch(version))
            r.FieldError("kubernetesVersion", $"'{version}' is not a Kubernetes version like v1.31.2");
        // What the kubelet accepts and which etcd/CoreDNS/pause go with it differ per minor: refuse one Provisioner
        // has no record of rather than render another minor's settings (issue 11).
        else if (version is not null && KubernetesReleases.Problem(version) is { } unsupported)
            r.FieldError("kubernetesVersion", unsupported);
        var podCidr = r.Parsed<IPNetwork>("podCidr", ProfileLoader.TryParseCidr, "a CIDR like 10.244.0.0/16", required: true);
        var serviceCidr = r.Parsed<IPNetwork>("serviceCidr", ProfileLoader.TryParseCidr, "a CIDR like 10.96.0.0/12", required: true);
        var clusterDns = r.ParsedRef<IPAddress>("clusterDns", IPAddress.TryParse, "an IP address");
        var clusterDomain = ProfileFields.CheckDnsName(r, "clusterDomain") ?? "cluster.local";
        var keys = r.StringList("sshAuthorizedKeys");
        foreach (var (key, node) in keys)
            if (!key.StartsWith("ssh-", StringComparison.Ordinal) && !key.StartsWith("ecdsa-", StringComparison.Ordinal) && !key.StartsWith("sk-", StringComparison.Ordinal))
                r.Error(node, r.FieldPath("sshAuthorizedKeys"), "not an SSH public key (expected 'ssh-ed25519 AAAA…', 'ssh-rsa …' or 'ecdsa-…')");
        var url = r.String("provisionerUrl");
        Uri? provisionerUrl = null;
        if (url is not null)
        {
            if (Uri.TryCreate(url, UriKind.Absolute, out var u) && (u.Scheme == "http" || u.Scheme == "https") && u.AbsolutePath == "/" && u.Query.Length == 0)
                provisionerUrl = u;
            else
                r.FieldError("provisionerUrl", $"'{url}' is not a base URL like http://192.0.2.1:8080 (http or https, no path)");
        }
        var images = ReadImages(r);
        var network = r.String("network") ?? ClusterSpec.NetworkFlannel;
        if (!ClusterSpec.Networks.Contains(network))
        {
            r.FieldError("network",
                $"'{network}' is not a pod network Provisioner renders: flannel (the default, VXLAN from podCidr) or none (bring your own CNI)");
            network = ClusterSpec.NetworkFlannel;
        }
        r.RejectUnknownKeys();

        if (serviceCidr is { } sc && clusterDns is not null && !sc.Contains(clusterDns))
            r.FieldError("clusterDns", $"{clusterDns} is outside serviceCidr {sc}");
        if (podCidr is { } pc && serviceCidr is { } sc2 && (pc.Contains(sc2.BaseAddress) || sc2.Contains(pc.BaseAddress)))
            r.FieldError("serviceCidr", $"serviceCidr {sc2} overlaps podCidr {pc}");

        if (name is null || baseDomain is null || version is null || podCidr is null || serviceCidr is null) return null;
        var dns = clusterDns ?? ProfileLoader.NthAddress(serviceCidr.Value, 10);
        return new ClusterSpec(name, baseDomain, apiEndpoint ?? $"api.{name}.{baseDomain}", apiVip, version,
            podCidr.Value, serviceCidr.Value, dns, clusterDomain, [.. keys.Select(k => k.Value)], provisionerUrl) { Images = images, Network = network };
    }

    /// <summary><c>images: {component: reference}</c>: per-component image overrides (mirrors).</summary>
    private static ImmutableDictionary<string, string> ReadImages(YamlNodeReader r)
    {
        var result = ImmutableDictionary<string, string>.Empty;
        if (r.Mapping("images") is not { } images) return result;
        foreach (var (k, v) in images.Node.Children)
        {
            var component = (k as YamlScalarNode)?.Value ?? "";
            var path = images.FieldPath(component);
            if (!ClusterImages.Components.Contains(component))
                images.Error(k, path, $"unknown component '{component}' (known: {string.Join(", ", ClusterImages.Components)})");
            else if (v is not YamlScalarNode { Value: { Length: > 0 } reference })
                images.Error(v, path, "expected an image reference");
            else if (ClusterImages.Problem(reference) is { } problem)
                images.Error(v, path, problem);
            else
                result = result.SetItem(component, reference);
        }
        return result;
    }
}
