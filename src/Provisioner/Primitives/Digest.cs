using System.Diagnostics.CodeAnalysis;
using System.Text.RegularExpressions;

namespace Provisioner.Primitives;

/// <summary>
/// A content digest <c>sha256:&lt;64 lower-case hex&gt;</c>. The store addresses everything by sha256, the only
/// algorithm registries and the OCI image spec require; other well-formed algorithms are reported as unsupported
/// rather than as malformed.
/// </summary>
internal sealed partial record Digest
{
    private Digest(string hex) => Hex = hex;

    public string Hex { get; }
    public override string ToString() => "sha256:" + Hex;

    public static Digest FromHex(string hex) =>
        TryParseHex(hex, out var d) ? d : throw new FormatException($"'{hex}' is not 64 lower-case hex digits");

    public static bool TryParseHex(string? hex, [NotNullWhen(true)] out Digest? digest)
    {
        digest = hex is not null && Sha256Hex().IsMatch(hex) ? new Digest(hex) : null;
        return digest is not null;
    }

    /// <summary>Parses <c>algorithm:encoded</c>; <paramref name="error"/> says why not (malformed or unsupported).</summary>
    public static bool TryParse(string? text, [NotNullWhen(true)] out Digest? digest, out string error)
    {
        digest = null;
        error = "";
        if (text is null || !Grammar().IsMatch(text))
        {
            error = $"'{text}' is not a digest (algorithm:hex, e.g. sha256:<64 hex digits>)";
            return false;
        }
        var colon = text.IndexOf(':');
        var algorithm = text[..colon];
        if (algorithm != "sha256")
        {
            error = $"digest algorithm '{algorithm}' is not supported (only sha256)";
            return false;
        }
        if (!TryParseHex(text[(colon + 1)..], out digest))
        {
            error = $"'{text}' is not a sha256 digest (64 lower-case hex digits after 'sha256:')";
            return false;
        }
        return true;
    }

    public static Digest Parse(string text) => TryParse(text, out var d, out var error) ? d : throw new FormatException(error);

    public static Digest Of(ReadOnlySpan<byte> content) =>
        new(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content)));

    // OCI image spec, descriptor.md: digest ::= algorithm ":" encoded
    [GeneratedRegex(@"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")]
    private static partial Regex Grammar();

    [GeneratedRegex("^[a-f0-9]{64}$")]
    private static partial Regex Sha256Hex();
}

/// <summary>Content did not hash to what it was supposed to; the message names what, expected and actual.</summary>
internal sealed class DigestMismatchException(string what, Digest expected, Digest actual)
    : IOException($"{what}: sha256 mismatch: expected {expected.Hex}, got {actual.Hex}")
{
    public Digest Expected { get; } = expected;
    public Digest Actual { get; } = actual;
}
