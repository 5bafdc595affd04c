using System.Text;
using System.Text.Json;
using Provisioner.Primitives;
using Provisioner.Profiles;

namespace Provisioner.Release;

/// <summary>
/// Reads Fedora CoreOS stream metadata (<c>https://builds.coreos.fedoraproject.org/streams/stable.json</c>):
/// <c>architectures.&lt;arch&gt;.artifacts.metal.formats.pxe.{kernel,initramfs,rootfs}.{location,sha256}</c>, and
/// optionally the metal disk image (<c>formats."raw.xz".disk</c>), into release artifacts named
/// <c>&lt;prefix&gt;/kernel</c>, <c>&lt;prefix&gt;/initramfs.img</c>, <c>&lt;prefix&gt;/rootfs.img</c>, <c>&lt;prefix&gt;/metal.raw.xz</c>.
/// </summary>
internal static class CoreOsStream
{
    private static readonly (string Format, string Key, string Name)[] PxeArtifacts =
        [("pxe", "kernel", "kernel"), ("pxe", "initramfs", "initramfs.img"), ("pxe", "rootfs", "rootfs.img")];
    private static readonly (string Format, string Key, string Name) Disk = ("raw.xz", "disk", "metal.raw.xz");

    public static IReadOnlyList<ReleaseArtifact> Read(string json, string display, string prefix, IReadOnlyCollection<string>? architectures, bool includeDisk)
    {
        JsonElement root;
        try { root = JsonDocument.Parse(json).RootElement; }
        catch (JsonException e) { throw new ReleaseException($"{display}: not valid JSON: {e.Message}"); }
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("architectures", out var archs) || archs.ValueKind != JsonValueKind.Object)
            throw new ReleaseException($"{display}: not stream metadata (no 'architectures' object)");

        var result = new List<ReleaseArtifact>();
        var seen = new List<string>();
        foreach (var arch in archs.EnumerateObject())
        {
            seen.Add(arch.Name);
            if (architectures is { Count: > 0 } && !architectures.Contains(arch.Name)) continue;
            var where = $"architectures.{arch.Name}.artifacts.metal.formats";
            if (!TryPath(arch.Value, out var formats, "artifacts", "metal", "formats"))
                throw new ReleaseException($"{display}: {where} is missing");
            foreach (var (format, key, name) in includeDisk ? [.. PxeArtifacts, Disk] : PxeArtifacts)
            {
                if (!TryPath(formats, out var entry, format, key))
                    throw new ReleaseException($"{display}: {where}.{format}.{key} is missing");
                var location = entry.TryGetProperty("location", out var l) && l.ValueKind == JsonValueKind.String ? l.GetString() : null;
                var sha = entry.TryGetProperty("sha256", out var s) && s.ValueKind == JsonValueKind.String ? s.GetString() : null;
                if (location is null || !Uri.TryCreate(location, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https" or "file"))
                    throw new ReleaseException($"{display}: {where}.{format}.{key}.location '{location}' is not an http(s) or file URL");
                if (!Digest.TryParseHex(sha, out var digest))
                    throw new ReleaseException($"{display}: {where}.{format}.{key}.sha256 '{sha}' is not 64 lower-case hex digits");
                result.Add(new ReleaseArtifact($"{prefix}/{name}", arch.Name, url, digest));
            }
        }
        if (architectures is { Count: > 0 } && architectures.FirstOrDefault(a => !seen.Contains(a)) is { } unknown)
            throw new ReleaseException($"{display}: no architecture '{unknown}' (the stream has {string.Join(", ", seen)})");
        return result;
    }

    /// <summary>The artifacts as the <c>artifacts:</c> block of a <c>release:</c> section (indented to paste below it).</summary>
    public static string ToYaml(IEnumerable<ReleaseArtifact> artifacts, string? comment)
    {
        var sb = new StringBuilder();
        if (comment is not null) sb.Append("  # ").Append(comment).Append('\n');
        sb.Append("  artifacts:\n");
        foreach (var arch in artifacts.GroupBy(a => a.Architecture))
        {
            sb.Append("    ").Append(arch.Key).Append(":\n");
            foreach (var a in arch)
                sb.Append("      ").Append(a.Name).Append(":\n")
                  .Append("        url: ").Append(a.Source.AbsoluteUri).Append('\n')
                  .Append("        sha256: ").Append(a.Sha256.Hex).Append('\n');
        }
        return sb.ToString();
    }

    private static bool TryPath(JsonElement e, out JsonElement result, params string[] path)
    {
        result = e;
        foreach (var p in path)
            if (result.ValueKind != JsonValueKind.Object || !result.TryGetProperty(p, out result)) return false;
        return true;
    }
}
