using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace Provisioner.Primitives;

/// <summary>Repository names and tags as the OCI Distribution spec allows them.</summary>
internal static partial class ImageNames
{
    public const int MaxNameLength = 255;

    // distribution-spec, "Pulling manifests": <name> must match this.
    [GeneratedRegex(@"^[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*$")]
    private static partial Regex Name();

    [GeneratedRegex(@"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")]
    private static partial Regex Tag();

    public static bool IsValidName(string? name) => name is { Length: > 0 and <= MaxNameLength } && Name().IsMatch(name);
    public static bool IsValidTag(string? tag) => tag is not null && Tag().IsMatch(tag);

    /// <summary>Splits <c>name:tag</c> (the tag is after the last ':' that follows the last '/').</summary>
    public static bool TryParseReference(string text, out string name, out string tag, out string error)
    {
        name = tag = "";
        var slash = text.LastIndexOf('/');
        var colon = text.LastIndexOf(':');
        if (colon <= slash) { error = $"'{text}' has no tag; write name:tag, e.g. library/pause:3.10"; return false; }
        name = text[..colon];
        tag = text[(colon + 1)..];
        if (!IsValidName(name)) { error = $"'{name}' is not a repository name (lower-case path components like library/pause)"; return false; }
        if (!IsValidTag(tag)) { error = $"'{tag}' is not a tag (letters, digits, '_', '.', '-'; at most 128)"; return false; }
        error = "";
        return true;
    }
}
