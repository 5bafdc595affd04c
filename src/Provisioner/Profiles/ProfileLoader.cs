using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Provisioner.Profiles;

/// <summary>Where the loader finds the operator's files.</summary>
public sealed record ProfileSources(string ProfilesDirectory, string TemplatesDirectory);

/// <summary>
/// Loads every <c>*.yaml</c>/<c>*.yml</c> file below the profiles directory. A file may hold any of the
/// top-level sections <c>cluster</c> (exactly one in the tree), <c>roles</c> and <c>machines</c>, so an operator
/// can keep one file per cluster or one per machine. Every problem in the tree is collected before failing.
/// </summary>
public static partial class ProfileLoader
{
    public static readonly IReadOnlySet<string> KnownSections = new HashSet<string> { "cluster", "roles", "machines", "release" };

    /// <summary>Loads and validates; throws <see cref="ProfileValidationException"/> listing every problem.</summary>
    public static ProfileSet Load(ProfileSources sources)
    {
        var (set, diagnostics) = TryLoad(sources);
        if (diagnostics.Count > 0 || set is null) throw new ProfileValidationException(diagnostics);
        return set;
    }

    public static (ProfileSet? Profiles, IReadOnlyList<ProfileDiagnostic> Diagnostics) TryLoad(ProfileSources sources)
    {
        var diagnostics = new List<ProfileDiagnostic>();
        var root = Path.GetFullPath(sources.ProfilesDirectory);
        if (!Directory.Exists(root))
        {
            diagnostics.Add(new(root, 0, 0, "profiles", "the profiles directory does not exist"));
            return (null, diagnostics);
        }

        var files = Directory.EnumerateFiles(root, "*.*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".yaml", StringComparison.Ordinal) || f.EndsWith(".yml", StringComparison.Ordinal))
            .Where(f => !Path.GetRelativePath(root, f).Split(Path.DirectorySeparatorChar).Any(p => p.StartsWith('.')))
            .Order(StringComparer.Ordinal)
            .ToList();
        if (files.Count == 0)
            diagnostics.Add(new(root, 0, 0, "profiles", "no *.yaml files found"));

        var builder = new Builder(diagnostics, Path.GetFullPath(sources.TemplatesDirectory));
        foreach (var file in files)
        {
            var display = DisplayPath(file);
            YamlStream stream = new();
            try
            {
                using var reader = new StreamReader(file);
                stream.Load(reader);
            }
            catch (YamlException e)
            {
                diagnostics.Add(new(display, (int)e.Start.Line, (int)e.Start.Column, "(yaml)", $"not valid YAML: {e.InnerException?.Message ?? e.Message}"));
                continue;
            }
            foreach (var document in stream.Documents)
                builder.AddDocument(document.RootNode, display);
        }

        var set = builder.Build(root);
        return (diagnostics.Count == 0 ? set : null, diagnostics);
    }

    /// <summary>Relative to the working directory when below it (what the operator typed), else absolute.</summary>
    public static string DisplayPath(string path)
    {
        var relative = Path.GetRelativePath(Directory.GetCurrentDirectory(), path);
        return relative.StartsWith("..", StringComparison.Ordinal) || Path.IsPathRooted(relative) ? Path.GetFullPath(path) : relative;
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex(@"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex DnsName();

    [GeneratedRegex(@"^v\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")]
    private static partial Regex KubernetesVersion();

    [GeneratedRegex(@"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")]
    private static partial Regex LabelKey();

    private sealed class Builder(List<ProfileDiagnostic> diagnostics, string templatesDirectory)
    {
        private (ClusterSpec Spec, YamlNode Node, string File)? _cluster;
        private (ReleaseSpec? Spec, YamlNodeReader Reader)? _release;
        private readonly Dictionary<string, (RoleSpec Spec, YamlNode Node, string File)> _roles = new(StringComparer.Ordinal);
        private readonly List<(MachineSpec Spec, YamlNodeReader Reader)> _machines = [];

        public void AddDocument(YamlNode rootNode, string file)
        {
            if (YamlNodeReader.IsNull(rootNode)) return;
            if (rootNode is not YamlMappingNode map)
            {
                diagnostics.Add(new(file, (int)rootNode.Start.Line, (int)rootNode.Start.Column, "(document)",
                    "expected a mapping with top-level sections cluster, roles or machines"));
                return;
            }
            var doc = new YamlNodeReader(map, file, "", diagnostics);
            if (doc.Mapping("cluster") is { } cluster) AddCluster(cluster);
            if (doc.Mapping("release") is { } release)
            {
                if (_release is { } first) release.Error($"a second 'release' section; the first is at {first.Reader.Location}");
                else _release = (ReleaseSection.Read(release), release);
            }
            if (doc.Mapping("roles") is { } roles)
                foreach (var (k, v) in roles.Node.Children)
                    AddRole(roles, (YamlScalarNode)k, v);
            foreach (var machine in doc.MappingList("machines")) AddMachine(machine);
            doc.RejectUnknownKeys();
        }

        private void AddCluster(YamlNodeReader r)
        {
            if (_cluster is { } existing)
            {
                r.Error($"a second 'cluster' section; the first is at {existing.File}:{existing.Node.Start.Line}");
                return;
            }
            var name = r.String("name", required: true);
            if (name is not null && !DnsLabel().IsMatch(name))
                r.Error(r.Raw("name")!, r.FieldPath("name"), $"'{name}' is not a DNS label (lower-case letters, digits and '-')");
            var baseDomain = CheckDnsName(r, "baseDomain", required: true);
            var apiEndpoint = CheckDnsNameOrIp(r, "apiEndpoint");
            var apiVip = r.ParsedRef<IPAddress>("apiVip", IPAddress.TryParse, "an IP address");
            var version = r.String("kubernetesVersion", required: true);
            if (version is not null && !KubernetesVersion().IsMatch(version))
                r.Error(r.Raw("kubernetesVersion")!, r.FieldPath("kubernetesVersion"), $"'{version}' is not a Kubernetes version like v1.31.2");
            // What the kubelet accepts and which etcd/CoreDNS/pause go with it differ per minor: refuse one Provisioner
            // has no record of rather than render another minor's settings (issue 11).
            else if (version is not null && KubernetesReleases.Problem(version) is { } unsupported)
                r.Error(r.Raw("kubernetesVersion")!, r.FieldPath("kubernetesVersion"), unsupported);
            var podCidr = r.Parsed<IPNetwork>("podCidr", TryParseCidr, "a CIDR like 10.244.0.0/16", required: true);
            var serviceCidr = r.Parsed<IPNetwork>("serviceCidr", TryParseCidr, "a CIDR like 10.96.0.0/12", required: true);
            var clusterDns = r.ParsedRef<IPAddress>("clusterDns", IPAddress.TryParse, "an IP address");
            var clusterDomain = CheckDnsName(r, "clusterDomain") ?? "cluster.local";
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
                    r.Error(r.Raw("provisionerUrl")!, r.FieldPath("provisionerUrl"), $"'{url}' is not a base URL like http://192.0.2.1:8080 (http or https, no path)");
            }
            var images = ReadImages(r);
            var network = r.String("network") ?? ClusterSpec.NetworkFlannel;
            if (!ClusterSpec.Networks.Contains(network))
            {
                r.Error(r.Raw("network")!, r.FieldPath("network"),
                    $"'{network}' is not a pod network Provisioner renders: flannel (the default, VXLAN from podCidr) or none (bring your own CNI)");
                network = ClusterSpec.NetworkFlannel;
            }
            r.RejectUnknownKeys();

            if (serviceCidr is { } sc && clusterDns is not null && !sc.Contains(clusterDns))
                r.Error(r.Raw("clusterDns")!, r.FieldPath("clusterDns"), $"{clusterDns} is outside serviceCidr {sc}");
            if (podCidr is { } pc && serviceCidr is { } sc2 && (pc.Contains(sc2.BaseAddress) || sc2.Contains(pc.BaseAddress)))
                r.Error(r.Raw("serviceCidr")!, r.FieldPath("serviceCidr"), $"serviceCidr {sc2} overlaps podCidr {pc}");

            if (name is null || baseDomain is null || version is null || podCidr is null || serviceCidr is null) return;
            var dns = clusterDns ?? NthAddress(serviceCidr.Value, 10);
            var spec = new ClusterSpec(name, baseDomain, apiEndpoint ?? $"api.{name}.{baseDomain}", apiVip, version,
                podCidr.Value, serviceCidr.Value, dns, clusterDomain, [.. keys.Select(k => k.Value)], provisionerUrl) { Images = images, Network = network };
            _cluster = (spec, r.Node, r.File);
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

        private void AddRole(YamlNodeReader roles, YamlScalarNode keyNode, YamlNode value)
        {
            var name = keyNode.Value ?? "";
            var path = roles.FieldPath(name);
            if (!DnsLabel().IsMatch(name))
                roles.Error(keyNode, path, $"role name '{name}' must be a DNS label (lower-case letters, digits and '-')");
            if (_roles.TryGetValue(name, out var existing))
            {
                roles.Error(keyNode, path, $"role '{name}' is defined twice; the first is at {existing.File}:{existing.Node.Start.Line}");
                return;
            }
            if (value is not YamlMappingNode map)
            {
                roles.Error(value, path, "expected a mapping with boot, ignition, labels, taints");
                return;
            }
            var r = new YamlNodeReader(map, roles.File, path, roles.Diagnostics);
            BootSpec? boot = null;
            if (r.Mapping("boot", required: true) is { } b)
            {
                var kernel = CheckAssetReference(b, "kernel", required: true);
                var initrds = b.StringList("initrd").Select(x => CheckAssetReference(b, "initrd", x.Value, x.Node)).OfType<string>().ToImmutableArray();
                var args = b.StringList("args").Where(a =>
                {
                    if (a.Value.Length > 0 && !a.Value.Any(char.IsWhiteSpace) && !a.Value.Contains("${", StringComparison.Ordinal)) return true;
                    b.Error(a.Node, b.FieldPath("args"), $"'{a.Value}' must be one kernel argument: not empty, no spaces, no '${{' (iPXE would expand it)");
                    return false;
                }).Select(a => a.Value).ToImmutableArray();
                b.RejectUnknownKeys();
                if (kernel is not null) boot = new BootSpec(kernel, initrds, args);
            }
            string? template = null;
            bool bindTicket = true, freshRound = false;
            if (r.Mapping("ignition", required: true) is { } ign)
            {
                template = ign.String("template", required: true);
                // See README, "Security model": tickets from /ipxe, one delivery per provisioning round.
                bindTicket = ign.Bool("bindTicketToAddress") ?? true;
                freshRound = ign.Bool("freshRoundPerBoot") ?? false;
                if (template is not null)
                {
                    var dir = Path.Combine(templatesDirectory, template);
                    if (!DnsLabel().IsMatch(template))
                        ign.Error(ign.Raw("template")!, ign.FieldPath("template"), $"'{template}' must be a template directory name (lower-case letters, digits and '-')");
                    else if (!File.Exists(Path.Combine(dir, "config.yaml")))
                        ign.Error(ign.Raw("template")!, ign.FieldPath("template"), $"template '{template}' does not exist (no {Path.Combine(dir, "config.yaml")})");
                }
                ign.RejectUnknownKeys();
            }
            var labels = ReadLabels(r, "labels");
            var taints = new List<TaintSpec>();
            foreach (var t in r.MappingList("taints"))
            {
                var key = t.String("key", required: true);
                if (key is not null && !LabelKey().IsMatch(key))
                    t.Error(t.Raw("key")!, t.FieldPath("key"), $"'{key}' is not a valid taint key");
                var val = t.String("value");
                var effect = t.String("effect", required: true);
                if (effect is not null && effect is not ("NoSchedule" or "PreferNoSchedule" or "NoExecute"))
                    t.Error(t.Raw("effect")!, t.FieldPath("effect"), $"'{effect}' is not one of NoSchedule, PreferNoSchedule, NoExecute");
                t.RejectUnknownKeys();
                if (key is not null && effect is not null) taints.Add(new TaintSpec(key, val, effect));
            }
            r.RejectUnknownKeys();
            if (boot is null || template is null) return;
            _roles[name] = (new RoleSpec(name, boot, template, labels, [.. taints], bindTicket, freshRound), keyNode, roles.File);
        }

        private void AddMachine(YamlNodeReader r)
        {
            var name = r.String("name", required: true);
            if (name is not null && !DnsLabel().IsMatch(name))
                r.Error(r.Raw("name")!, r.FieldPath("name"), $"'{name}' is not a valid host name (a DNS label: lower-case letters, digits and '-', at most 63)");
            if (name is { Length: > 63 })
                r.Error(r.Raw("name")!, r.FieldPath("name"), "a host name is at most 63 characters");
            var role = r.String("role", required: true);

            var macs = ImmutableArray.CreateBuilder<MacAddress>();
            Guid? uuid = null;
            string? serial = null, hostname = null;
            if (r.Mapping("select", required: true) is { } s)
            {
                foreach (var (text, node) in s.StringList("mac"))
                {
                    if (MacAddress.TryParse(text, out var mac)) macs.Add(mac);
                    else s.Error(node, s.FieldPath("mac"), $"'{text}' is not a MAC address like 52:54:00:12:34:56");
                }
                // The nil and all-F UUIDs are what boards without one send: many machines share them.
                uuid = s.Parsed<Guid>("uuid", (string text, out Guid u) => Guid.TryParse(text, out u) && !SmbiosUuid.IsPlaceholder(u),
                    "an SMBIOS UUID like 4c4c4544-0042-3510-8052-b4c04f564433 (the nil and all-F UUIDs are placeholders many boards share)");
                serial = s.String("serial");
                hostname = s.String("hostname");
                s.RejectUnknownKeys();
                // Only when no selector was written at all: a written but malformed one (a bad MAC) already has
                // its own error, and "at least one selector is needed" beside it would send the operator looking
                // for a missing key that is right there.
                var written = new[] { "mac", "uuid", "serial", "hostname" }.Any(k => s.Raw(k) is { } v && !YamlNodeReader.IsNull(v) && v is not YamlSequenceNode { Children.Count: 0 });
                if (!written)
                    s.Error("at least one selector is needed: mac, uuid, serial or hostname");
            }

            var network = NetworkSpec.UseDhcp;
            if (r.Mapping("network") is { } n) network = ReadNetwork(n);
            var installDisk = r.String("installDisk");
            if (installDisk is not null && !installDisk.StartsWith("/dev/", StringComparison.Ordinal))
                r.Error(r.Raw("installDisk")!, r.FieldPath("installDisk"), $"'{installDisk}' is not a device path under /dev/");
            var labels = ReadLabels(r, "labels");
            r.RejectUnknownKeys();
            if (name is null || role is null) return;
            var spec = new MachineSpec(name, role, new MachineSelectors(macs.ToImmutable(), uuid, serial, hostname),
                network, installDisk, labels, r.Location);
            _machines.Add((spec, r));
        }

        private static NetworkSpec ReadNetwork(YamlNodeReader n)
        {
            var dhcp = n.Bool("dhcp");
            var iface = n.String("interface");
            var addressText = n.String("address");
            IPAddress? address = null;
            int? prefix = null;
            if (addressText is not null)
            {
                if (TryParseCidr(addressText, out _) && addressText.Split('/') is [var ip, var len] && IPAddress.TryParse(ip, out var a))
                {
                    address = a;
                    prefix = int.Parse(len, CultureInfo.InvariantCulture);
                }
                else n.Error(n.Raw("address")!, n.FieldPath("address"), $"'{addressText}' is not an address with prefix like 192.0.2.21/24");
            }
            var gateway = n.ParsedRef<IPAddress>("gateway", IPAddress.TryParse, "an IP address");
            var dns = n.StringList("dns").Select(d =>
            {
                if (IPAddress.TryParse(d.Value, out var ip)) return ip;
                n.Error(d.Node, n.FieldPath("dns"), $"'{d.Value}' is not an IP address");
                return null;
            }).OfType<IPAddress>().ToImmutableArray();
            n.RejectUnknownKeys();

            if (dhcp == true && address is not null)
                n.Error(n.Raw("dhcp")!, n.FieldPath("dhcp"), "dhcp: true and a static address are exclusive");
            if (address is null && (gateway is not null || dns.Length > 0) && dhcp != true)
                n.Error("gateway/dns given without a static address; add 'address' or set 'dhcp: true'");
            if (address is not null && gateway is not null && prefix is { } p)
            {
                var subnet = TrimToNetwork(address, p);
                if (subnet is not null && !subnet.Value.Contains(gateway))
                    n.Error(n.Raw("gateway")!, n.FieldPath("gateway"), $"gateway {gateway} is outside the machine's subnet {subnet}");
            }
            if (address is null) return new NetworkSpec(true, iface, null, null, null, dns);
            return new NetworkSpec(false, iface, address, prefix, gateway, dns);
        }

        private static ImmutableDictionary<string, string> ReadLabels(YamlNodeReader r, string key)
        {
            var builder = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            foreach (var (k, v, node) in r.StringMap(key))
            {
                if (!LabelKey().IsMatch(k) || k.Length > 316)
                    r.Error(node, r.FieldPath(key) + "." + k, $"'{k}' is not a valid Kubernetes label key");
                else if (v.Length > 63 || (v.Length > 0 && !Regex.IsMatch(v, "^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")))
                    r.Error(node, r.FieldPath(key) + "." + k, $"'{v}' is not a valid Kubernetes label value");
                else builder[k] = v;
            }
            return builder.ToImmutable();
        }

        private static string? CheckDnsName(YamlNodeReader r, string key, bool required = false)
        {
            var value = r.String(key, required);
            if (value is not null && !DnsName().IsMatch(value))
            {
                r.Error(r.Raw(key)!, r.FieldPath(key), $"'{value}' is not a DNS name");
                return null;
            }
            return value;
        }

        private static string? CheckDnsNameOrIp(YamlNodeReader r, string key)
        {
            var value = r.String(key);
            if (value is not null && !IPAddress.TryParse(value, out _) && !DnsName().IsMatch(value))
            {
                r.Error(r.Raw(key)!, r.FieldPath(key), $"'{value}' is neither a DNS name nor an IP address");
                return null;
            }
            return value;
        }

        private static string? CheckAssetReference(YamlNodeReader r, string key, bool required)
        {
            var value = r.String(key, required);
            return value is null ? null : CheckAssetReference(r, key, value, r.Raw(key)!);
        }

        private static string? CheckAssetReference(YamlNodeReader r, string key, string value, YamlNode node)
        {
            if (Uri.TryCreate(value, UriKind.Absolute, out var abs) && (abs.Scheme == "http" || abs.Scheme == "https"))
                return value;
            var segments = value.Split('/');
            if (value.Length == 0 || value.StartsWith('/') || value.Contains('\\') || segments.Any(s => s is "" or "." or ".."))
            {
                r.Error(node, r.FieldPath(key), $"'{value}' must be a clean path below the assets directory (no leading '/', no '..') or an http(s) URL");
                return null;
            }
            return value;
        }

        public ProfileSet? Build(string root)
        {
            if (_cluster is null)
            {
                diagnostics.Add(new(root, 0, 0, "cluster", "no 'cluster' section found in any profile file"));
                return null;
            }
            var cluster = _cluster.Value.Spec;
            var names = new Dictionary<string, MachineSpec>(StringComparer.Ordinal);
            var selectors = new Dictionary<string, MachineSpec>(StringComparer.Ordinal);
            var addresses = new Dictionary<IPAddress, MachineSpec>();
            foreach (var (m, r) in _machines)
            {
                if (names.TryGetValue(m.Name, out var dup))
                    r.Error(r.Raw("name")!, r.FieldPath("name"), $"machine name '{m.Name}' is already used at {dup.Location}");
                else names[m.Name] = m;

                if (!_roles.ContainsKey(m.Role))
                    r.Error(r.Raw("role")!, r.FieldPath("role"),
                        $"role '{m.Role}' does not exist (defined roles: {string.Join(", ", _roles.Keys.Order(StringComparer.Ordinal))})");

                foreach (var (key, field) in SelectorKeys(m))
                {
                    if (selectors.TryGetValue(key, out var other) && other.Name != m.Name)
                        r.Error(r.Raw("select")!, r.FieldPath("select." + field),
                            $"{key} is also claimed by machine '{other.Name}' at {other.Location}; a selector must identify one machine");
                    else selectors[key] = m;
                }

                if (m.Network.Address is { } ip)
                {
                    if (addresses.TryGetValue(ip, out var owner))
                        r.Error(r.Raw("network")!, r.FieldPath("network.address"), $"address {ip} is also used by machine '{owner.Name}' at {owner.Location}");
                    else addresses[ip] = m;
                    if (cluster.PodCidr.Contains(ip) || cluster.ServiceCidr.Contains(ip))
                        r.Error(r.Raw("network")!, r.FieldPath("network.address"), $"address {ip} lies inside the cluster's pod or service CIDR");
                }
            }
            if (_release is ({ } rel, var relReader) && rel.KubernetesVersion != cluster.KubernetesVersion)
                relReader.Error(relReader.Raw("kubernetesVersion")!, relReader.FieldPath("kubernetesVersion"),
                    $"the release is {rel.KubernetesVersion} but the cluster says kubernetesVersion {cluster.KubernetesVersion}");
            // The release must name every image this topology runs: the always-needed ones are checked with the
            // section itself; the pod network's depend on cluster.network.
            if (_release is ({ } release, var releaseReader) && releaseReader.Mapping("images") is { } releaseImages)
                foreach (var missing in ClusterImages.Needed(cluster)
                             .Except(ReleaseSpec.RequiredComponents).Where(c => release.Images.All(i => i.Component != c)))
                    releaseImages.Error($"the '{missing}' image is missing (cluster.network is {cluster.Network}, so the release names {string.Join(", ", ClusterImages.Needed(cluster))})");
            if (diagnostics.Count > 0) return null;
            return new ProfileSet(cluster,
                _roles.ToImmutableDictionary(kv => kv.Key, kv => kv.Value.Spec, StringComparer.Ordinal),
                [.. _machines.Select(m => m.Spec)], root) { Release = _release?.Spec };
        }

        private static IEnumerable<(string Key, string Field)> SelectorKeys(MachineSpec m)
        {
            foreach (var mac in m.Select.Macs) yield return ($"mac {mac}", "mac");
            if (m.Select.Uuid is { } u) yield return ($"uuid {u}", "uuid");
            if (m.Select.Serial is { } s) yield return ($"serial '{s}'", "serial");
            if (m.Select.Hostname is { } h) yield return ($"hostname '{h.ToLowerInvariant()}'", "hostname");
        }
    }

    /// <summary>Parses a CIDR whose host bits are zero (a network, not an address).</summary>
    internal static bool TryParseCidr(string text, out IPNetwork network)
    {
        network = default;
        if (!IPNetwork.TryParse(text, out var parsed))
        {
            // IPNetwork.TryParse refuses host bits; accept them for "address/prefix" forms and let callers decide.
            var parts = text.Split('/');
            if (parts.Length != 2 || !IPAddress.TryParse(parts[0], out var ip) || !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var len))
                return false;
            int max = ip.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
            if (len < 0 || len > max) return false;
            var trimmed = TrimToNetwork(ip, len);
            if (trimmed is null) return false;
            network = trimmed.Value;
            return true;
        }
        network = parsed;
        return true;
    }

    internal static IPNetwork? TrimToNetwork(IPAddress address, int prefix)
    {
        var bytes = address.GetAddressBytes();
        if (prefix < 0 || prefix > bytes.Length * 8) return null;
        for (int i = 0; i < bytes.Length; i++)
        {
            int bitsHere = Math.Clamp(prefix - i * 8, 0, 8);
            bytes[i] &= (byte)(0xff << (8 - bitsHere));
        }
        return new IPNetwork(new IPAddress(bytes), prefix);
    }

    /// <summary>The n-th address of a network (e.g. 10 → the conventional cluster DNS address).</summary>
    public static IPAddress NthAddress(IPNetwork network, int n)
    {
        var bytes = network.BaseAddress.GetAddressBytes();
        int carry = n;
        for (int i = bytes.Length - 1; i >= 0 && carry > 0; i--)
        {
            int sum = bytes[i] + carry;
            bytes[i] = (byte)(sum & 0xff);
            carry = sum >> 8;
        }
        return new IPAddress(bytes);
    }
}
