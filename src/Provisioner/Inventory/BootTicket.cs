using System.Security.Cryptography;
using System.Text;

namespace Provisioner.Inventory;

/// <summary>
/// A one-time boot ticket that released a machine's config, as the machine state remembers it: only its SHA-256
/// <see cref="Hash"/> is kept (the state file then opens nothing). <see cref="BoundTo"/> is the client address that asked
/// <c>/ipxe</c> (null: any address); <see cref="UsedAt"/>/<see cref="UsedBy"/> say when and to which address the config
/// it released went.
/// </summary>
internal sealed record BootTicket(string Hash, DateTimeOffset IssuedAt, DateTimeOffset Expires, string? BoundTo,
    DateTimeOffset? UsedAt = null, string? UsedBy = null);

/// <summary>Random one-time secrets (boot tickets, report keys) and the hashes persisted in their place.</summary>
internal static class MachineSecrets
{
    /// <summary>Used tickets kept per machine (the newest), so a replay of a recent one is answered 410 with when and where.</summary>
    public const int MaxTickets = 8;

    /// <summary>192 random bits, base64url without padding (32 characters: fits a query value and a kernel argument).</summary>
    public static string NewSecret() => Base64Url(RandomNumberGenerator.GetBytes(24));

    public static string Hash(string secret) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(secret)));

    /// <summary>Whether <paramref name="secret"/> hashes to <paramref name="expectedHash"/>, in constant time.</summary>
    public static bool Matches(string secret, string? expectedHash) =>
        expectedHash is not null && CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(Hash(secret)), Encoding.ASCII.GetBytes(expectedHash));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
