using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace Provisioner.Ignition;

/// <summary>A part of a config that only exists from spec <paramref name="Since"/> on.</summary>
internal sealed record IgnitionFeature(string Path, string Description, Version Since);

/// <summary>The Ignition config spec versions Provisioner can emit, and which of them a config fits in.</summary>
internal static partial class IgnitionSpec
{
    public static Version V3_0 { get; } = new(3, 0, 0);
    public static Version V3_1 { get; } = new(3, 1, 0);
    public static Version V3_2 { get; } = new(3, 2, 0);
    public static Version V3_3 { get; } = new(3, 3, 0);
    public static Version V3_4 { get; } = new(3, 4, 0);
    public static Version V3_5 { get; } = new(3, 5, 0);

    /// <summary>Oldest first. 3.6.0 is left out on purpose: the Ignition shipped by current OS images does not read it yet.</summary>
    public static IReadOnlyList<Version> Supported { get; } = [V3_0, V3_1, V3_2, V3_3, V3_4, V3_5];

    /// <summary>What a client gets when it does not ask for a particular version.</summary>
    public static Version Default => V3_4;

    public static string SupportedRange => $"{Format(Supported[0])} to {Format(Supported[^1])}";

    public const string MediaType = "application/vnd.coreos.ignition+json";

    public static string ContentType(Version version) => $"{MediaType};version={Format(version)}";

    public static string Format(Version version) => $"{version.Major}.{version.Minor}.{Math.Max(version.Build, 0)}";

    public static bool IsSupported(Version version) => Supported.Contains(Normalize(version));

    /// <summary>Parses <c>X.Y.Z</c> (no pre-release suffix) into a supported version.</summary>
    public static bool TryParseSupported(string? text, [NotNullWhen(true)] out Version? version)
    {
        version = null;
        if (text is null || !SemVer().IsMatch(text) || !Version.TryParse(text, out var parsed)) return false;
        parsed = Normalize(parsed);
        if (!Supported.Contains(parsed)) return false;
        version = parsed;
        return true;
    }

    /// <summary>The oldest spec version in which every feature the config uses exists.</summary>
    public static Version MinimumVersion(IgnitionConfig config) =>
        RequiredFeatures(config).Select(f => f.Since).Append(V3_0).Max()!;

    /// <summary>The same config declaring <paramref name="version"/>; throws when it cannot be expressed there.</summary>
    public static IgnitionConfig WithVersion(this IgnitionConfig config, Version version)
    {
        version = Normalize(version);
        if (!IsSupported(version))
            throw new ArgumentException($"Ignition spec {Format(version)} is not supported (supported: {SupportedRange}).", nameof(version));
        var blocker = RequiredFeatures(config).Where(f => f.Since > version).MaxBy(f => f.Since);
        if (blocker is not null)
            throw new ArgumentException($"The config cannot be expressed in Ignition spec {Format(version)}: {Describe(blocker)}.", nameof(version));
        return config with { Ignition = config.Ignition with { Version = Format(version) } };
    }

    internal static string Describe(IgnitionFeature f) => $"{f.Description} at {f.Path} needs spec {Format(f.Since)} or newer";

    /// <summary>Every use of a feature newer than 3.0.0, with where it is used (from the spec changelogs and schemas).</summary>
    public static IReadOnlyList<IgnitionFeature> RequiredFeatures(IgnitionConfig config)
    {
        var found = new List<IgnitionFeature>();
        if (config.KernelArguments is not null)
            found.Add(new("$.kernelArguments", "kernelArguments", V3_3));
        var storage = config.Storage;
        for (var i = 0; i < (storage?.Files?.Count ?? 0); i++)
        {
            var file = storage!.Files![i];
            var at = $"$.storage.files[{i}]";
            AddMode(found, at, file.Mode);
            if (file.Contents is not null) AddResource(found, at + ".contents", file.Contents);
            for (var j = 0; j < (file.Append?.Count ?? 0); j++)
                AddResource(found, $"{at}.append[{j}]", file.Append![j]);
        }
        for (var i = 0; i < (storage?.Directories?.Count ?? 0); i++)
            AddMode(found, $"$.storage.directories[{i}]", storage!.Directories![i].Mode);
        return found;
    }

    // Before 3.4.0 Ignition silently dropped setuid/setgid/sticky (coreos/ignition#1301), so such a mode means something else there.
    private static void AddMode(List<IgnitionFeature> found, string at, int? mode)
    {
        if (mode is > 0 and <= 0x0FFF && (mode & 0xE00) != 0)
            found.Add(new(at + ".mode", "a mode with setuid/setgid/sticky bits", V3_4));
    }

    private static void AddResource(List<IgnitionFeature> found, string at, Resource resource)
    {
        if (resource.HttpHeaders is not null) found.Add(new(at + ".httpHeaders", "httpHeaders", V3_1));
        if (resource.Verification?.Hash?.StartsWith("sha256-", StringComparison.Ordinal) == true)
            found.Add(new(at + ".verification.hash", "a sha256 hash", V3_1));
        var scheme = SchemeOf(resource.Source);
        if (scheme == "gs") found.Add(new(at + ".source", "a gs:// source", V3_2));
        if (scheme == "arn") found.Add(new(at + ".source", "an arn: source", V3_4));
    }

    /// <summary>The lower-cased URL scheme of a resource source ("data", "https", "arn" ...), or null when it has none.</summary>
    internal static string? SchemeOf(string? source) =>
        source is not null && source.IndexOf(':') is > 0 and var colon ? source[..colon].ToLowerInvariant() : null;

    private static Version Normalize(Version v) => new(v.Major, v.Minor, Math.Max(v.Build, 0));

    [GeneratedRegex(@"^\d+\.\d+\.\d+$")]
    private static partial Regex SemVer();
}
