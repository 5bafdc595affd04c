using System.Collections.Immutable;
using YamlDotNet.RepresentationModel;

namespace Provisioner.Profiles;

/// <summary>Reads one role of the <c>roles</c> section: boot files and arguments, Ignition template, labels, taints.</summary>
internal static class RoleSectionReader
{
    /// <summary>One entry of <c>roles</c>; null when it is unusable (each problem reported).</summary>
    /// <param name="templatesDirectory">Where the role's <c>ignition.template</c> must exist.</param>
    public static RoleSpec? Read(YamlNodeReader roles, string name, YamlNode value, string templatesDirectory)
    {
        var path = roles.FieldPath(name);
        if (value is not YamlMappingNode map)
        {
            roles.Error(value, path, "expected a mapping with boot, ignition, labels, taints");
            return null;
        }
        var r = new YamlNodeReader(map, roles.File, path, roles.Diagnostics);
        BootSpec? boot = null;
        if (r.Mapping("boot", required: true) is { } b)
        {
            var kernel = ProfileFields.CheckAssetReference(b, "kernel", required: true);
            var initrds = b.StringList("initrd").Select(x => ProfileFields.CheckAssetReference(b, "initrd", x.Value, x.Node)).OfType<string>().ToImmutableArray();
            var args = b.StringList("args").Where(a =>
            {
                if (a.Value.Length > 0 && !a.Value.Any(char.IsWhiteSpace) && !a.Value.Contains("${", StringComparison.Ordinal)) return true;
                b.Error(a.Node, b.FieldPath("args"), $"'{a.Value}' must be one kernel argument: not empty, no spaces, no '${{' (iPXE would expand it)");
                return false;
            }).Select(a => a.Value).ToImmutableArray();
            var localBoot = ReadLocalBoot(b);
            b.RejectUnknownKeys();
            if (kernel is not null) boot = new BootSpec(kernel, initrds, args) { LocalBoot = localBoot };
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
                if (!ProfileFields.DnsLabel().IsMatch(template))
                    ign.FieldError("template", $"'{template}' must be a template directory name (lower-case letters, digits and '-')");
                else if (!File.Exists(Path.Combine(dir, "config.yaml")))
                    ign.FieldError("template", $"template '{template}' does not exist (no {Path.Combine(dir, "config.yaml")})");
            }
            ign.RejectUnknownKeys();
        }
        var installDisk = ProfileFields.ReadInstallDisk(r);
        var labels = ProfileFields.ReadLabels(r, "labels");
        var taints = new List<TaintSpec>();
        foreach (var t in r.MappingList("taints"))
        {
            var key = t.String("key", required: true);
            if (key is not null && !ProfileFields.LabelKey().IsMatch(key))
                t.FieldError("key", $"'{key}' is not a valid taint key");
            var val = t.String("value");
            var effect = t.String("effect", required: true);
            if (effect is not null && effect is not ("NoSchedule" or "PreferNoSchedule" or "NoExecute"))
                t.FieldError("effect", $"'{effect}' is not one of NoSchedule, PreferNoSchedule, NoExecute");
            t.RejectUnknownKeys();
            if (key is not null && effect is not null) taints.Add(new TaintSpec(key, val, effect));
        }
        r.RejectUnknownKeys();
        if (boot is null || template is null) return null;
        return new RoleSpec(name, boot, template, labels, [.. taints]) { InstallDisk = installDisk, BindTicketToAddress = bindTicket, FreshRoundPerBoot = freshRound };
    }

    /// <summary>
    /// <c>boot.localBoot</c>: the iPXE lines that boot an installed machine from its disk, as a list or one block
    /// of lines. A line may not start a new script (<c>#!ipxe</c>): Provisioner writes the header.
    /// </summary>
    private static ImmutableArray<string> ReadLocalBoot(YamlNodeReader boot)
    {
        var lines = ImmutableArray.CreateBuilder<string>();
        var wrong = false;
        foreach (var (text, node) in boot.StringList("localBoot"))
        {
            foreach (var line in text.Split('\n').Select(l => l.TrimEnd('\r')))
            {
                string? problem = line.Any(c => char.IsControl(c) && c != '\t') ? "an iPXE line must not contain control characters"
                    : line.TrimStart().StartsWith("#!", StringComparison.Ordinal) ? "leave out the '#!ipxe' header: Provisioner writes it"
                    : null;
                if (problem is not null)
                {
                    boot.Error(node, boot.FieldPath("localBoot"), problem);
                    wrong = true;
                }
                else if (line.Trim().Length > 0) lines.Add(line);
            }
        }
        if (!wrong && lines.Count == 0 && boot.Raw("localBoot") is { } raw && !YamlNodeReader.IsNull(raw))
            boot.Error(raw, boot.FieldPath("localBoot"), "no iPXE lines: leave localBoot out to use Provisioner's (BIOS sanboot of the first disk, UEFI exit)");
        return lines.ToImmutable();
    }
}
