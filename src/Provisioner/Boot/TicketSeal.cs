using System.Buffers.Binary;
using System.Buffers.Text;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Provisioner.Inventory;
using Provisioner.Primitives;

namespace Provisioner.Boot;

/// <summary>What a ticket says about itself once its seal is verified.</summary>
/// <param name="Hash">The ticket's SHA-256 (what the machine state records once the ticket is used).</param>
/// <param name="BoundTo">The address that asked <c>/ipxe</c>, when the ticket is bound to it.</param>
internal sealed record OpenedTicket(string Hash, DateTimeOffset IssuedAt, DateTimeOffset Expires, string? BoundTo);

/// <summary>
/// Boot tickets that cost no state until they are used. A ticket carries its issue time, lifetime, a nonce and the
/// address it is bound to, sealed with HMAC-SHA256 (truncated to 128 bits) over those and the machine's name, under a
/// 256-bit key kept in <c>&lt;cluster-dir&gt;/state/ticket.key</c> (0600). So <c>/ipxe</c> mints one without writing
/// anything (a rack booting at once does not queue behind the state file), a restart keeps outstanding tickets valid
/// (the key is on disk), and a ticket is good only for the machine it was minted for. Being used once is what the
/// machine state records (<see cref="SecretDelivery.RedeemAsync"/>). Reading the key lets one mint tickets; it sits
/// beside the cluster's CA keys and bootstrap tokens, which open more than a ticket does.
/// </summary>
internal sealed class TicketSeal(ClusterDirectoryPath cluster, ILogger<TicketSeal> logger) : IHostedService
{
    private const byte Version = 1;
    private const int NonceLength = 8, MacLength = 16, KeyLength = 32;
    // version, issued (UTC ticks), lifetime (seconds), nonce, address length.
    private const int HeaderLength = 1 + 8 + 4 + NonceLength + 1;

    private byte[]? _key;

    public string KeyPath => Path.Combine(cluster.FullPath, "state", "ticket.key");

    public async Task StartAsync(CancellationToken cancellationToken) => _key = await LoadOrCreateKeyAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private byte[] Key => _key ?? throw new InvalidOperationException("the ticket key is loaded when the server starts");

    /// <summary>A new ticket for <paramref name="machine"/>: base64url, 51 characters unbound, 56 bound to an IPv4 address, 72 to an IPv6 one.</summary>
    public string Issue(string machine, DateTimeOffset issuedAt, TimeSpan lifetime, IPAddress? boundTo)
    {
        var address = boundTo?.GetAddressBytes() ?? [];
        Span<byte> ticket = stackalloc byte[HeaderLength + address.Length + MacLength];
        ticket[0] = Version;
        BinaryPrimitives.WriteInt64BigEndian(ticket[1..], issuedAt.UtcTicks);
        BinaryPrimitives.WriteUInt32BigEndian(ticket[9..], (uint)Math.Clamp(lifetime.TotalSeconds, 0, uint.MaxValue));
        RandomNumberGenerator.Fill(ticket.Slice(13, NonceLength));
        ticket[HeaderLength - 1] = (byte)address.Length;
        address.CopyTo(ticket[HeaderLength..]);
        var sealedPart = ticket[..(HeaderLength + address.Length)];
        Mac(machine, sealedPart, ticket[sealedPart.Length..]);
        return Base64Url.EncodeToString(ticket);
    }

    /// <summary>The ticket's contents when it is well formed and sealed by this server for <paramref name="machine"/>; else null.</summary>
    public OpenedTicket? Open(string machine, string ticket)
    {
        if (ticket.Length > 128) return null;
        Span<byte> bytes = stackalloc byte[96];
        // DecodeFromChars reports bad input; TryDecodeFromChars would throw on it.
        if (Base64Url.DecodeFromChars(ticket, bytes, out _, out var length) != System.Buffers.OperationStatus.Done) return null;
        bytes = bytes[..length];
        // One spelling per ticket: the decoder ignores the last character's spare bits, and a used ticket is known by its hash.
        if (!string.Equals(Base64Url.EncodeToString(bytes), ticket, StringComparison.Ordinal)) return null;
        if (length < HeaderLength + MacLength || bytes[0] != Version) return null;
        var addressLength = bytes[HeaderLength - 1];
        if (addressLength is not (0 or 4 or 16) || length != HeaderLength + addressLength + MacLength) return null;
        var sealedPart = bytes[..(HeaderLength + addressLength)];
        Span<byte> expected = stackalloc byte[MacLength];
        Mac(machine, sealedPart, expected);
        if (!CryptographicOperations.FixedTimeEquals(expected, bytes[sealedPart.Length..])) return null;

        var issuedAt = new DateTimeOffset(BinaryPrimitives.ReadInt64BigEndian(bytes[1..]), TimeSpan.Zero);
        var lifetime = TimeSpan.FromSeconds(BinaryPrimitives.ReadUInt32BigEndian(bytes[9..]));
        var boundTo = addressLength == 0 ? null : new IPAddress(bytes.Slice(HeaderLength, addressLength)).ToString();
        return new OpenedTicket(MachineSecrets.Hash(ticket), issuedAt, issuedAt + lifetime, boundTo);
    }

    private void Mac(string machine, ReadOnlySpan<byte> sealedPart, Span<byte> destination)
    {
        var length = sealedPart.Length + Encoding.UTF8.GetByteCount(machine);
        Span<byte> buffer = length <= 512 ? stackalloc byte[length] : new byte[length];
        sealedPart.CopyTo(buffer);
        Encoding.UTF8.GetBytes(machine, buffer[sealedPart.Length..]);
        Span<byte> mac = stackalloc byte[HMACSHA256.HashSizeInBytes];
        HMACSHA256.HashData(Key, buffer, mac);
        mac[..MacLength].CopyTo(destination);
    }

    /// <summary>
    /// The key on disk, or a new one. Created next to its final name and linked into place without replacing, so two
    /// servers starting on one cluster directory (or a crash mid-write) still end with one key that everyone reads.
    /// </summary>
    private async Task<byte[]> LoadOrCreateKeyAsync(CancellationToken ct)
    {
        var path = KeyPath;
        if (!File.Exists(path))
        {
            var directory = Path.GetDirectoryName(path)!;
            Directory.CreateDirectory(directory, AtomicFile.DirectoryMode);
            var temp = Path.Combine(directory, $".ticket.key.{Guid.NewGuid():N}.tmp");
            try
            {
                await AtomicFile.WriteAsync(temp, Convert.ToBase64String(RandomNumberGenerator.GetBytes(KeyLength)) + "\n", AtomicFile.PrivateMode, ct);
                try
                {
                    File.Move(temp, path, overwrite: false);
                    logger.LogInformation("Created the boot ticket key {Path}", path);
                }
                catch (IOException) when (File.Exists(path)) { } // another server made it first: use theirs
            }
            finally { File.Delete(temp); }
        }
        AtomicFile.EnsureMode(path, AtomicFile.PrivateMode);
        var text = (await File.ReadAllTextAsync(path, ct)).Trim();
        byte[] key;
        try { key = Convert.FromBase64String(text); }
        catch (FormatException) { key = []; }
        if (key.Length != KeyLength)
            throw new InvalidDataException($"{path} is not a boot ticket key ({KeyLength} bytes, base64); remove it to have a new one made (outstanding tickets then stop working)");
        return key;
    }
}
