using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Provisioner.Profiles;

/// <summary>Where the loader finds the operator's files.</summary>
internal sealed record ProfileSources(string ProfilesDirectory, string TemplatesDirectory);

/// <summary>
/// Loads every <c>*.yaml</c>/<c>*.yml</c> file below the profiles directory. A file may hold any of the
/// top-level sections <c>cluster</c> (exactly one in the tree), <c>roles</c> and <c>machines</c>, so an operator
/// can keep one file per cluster or one per machine. Every problem in the tree is collected before failing.
/// </summary>
internal static partial class ProfileLoader
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

    /// <summary>
    /// Collects the sections of every document in file order. Each section is read by its reader
    /// (<see cref="ClusterSectionReader"/>, <see cref="RoleSectionReader"/>, <see cref="MachineSectionReader"/>,
    /// <see cref="ReleaseSection"/>); a section that may appear once is refused the second time; then
    /// <see cref="ProfileValidator"/> checks them together.
    /// </summary>
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
            foreach (var machine in doc.MappingList("machines"))
                if (MachineSectionReader.Read(machine) is { } spec) _machines.Add((spec, machine));
            doc.RejectUnknownKeys();
        }

        private void AddCluster(YamlNodeReader r)
        {
            if (_cluster is { } existing)
            {
                r.Error($"a second 'cluster' section; the first is at {existing.File}:{existing.Node.Start.Line}");
                return;
            }
            if (ClusterSectionReader.Read(r) is { } spec) _cluster = (spec, r.Node, r.File);
        }

        private void AddRole(YamlNodeReader roles, YamlScalarNode keyNode, YamlNode value)
        {
            var name = keyNode.Value ?? "";
            var path = roles.FieldPath(name);
            if (!ProfileFields.DnsLabel().IsMatch(name))
                roles.Error(keyNode, path, $"role name '{name}' must be a DNS label (lower-case letters, digits and '-')");
            if (_roles.TryGetValue(name, out var existing))
            {
                roles.Error(keyNode, path, $"role '{name}' is defined twice; the first is at {existing.File}:{existing.Node.Start.Line}");
                return;
            }
            if (RoleSectionReader.Read(roles, name, value, templatesDirectory) is { } spec) _roles[name] = (spec, keyNode, roles.File);
        }

        public ProfileSet? Build(string root) =>
            ProfileValidator.Validate(_cluster?.Spec, _roles.ToDictionary(kv => kv.Key, kv => kv.Value.Spec, StringComparer.Ordinal),
                _machines, _release, diagnostics, root);
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
