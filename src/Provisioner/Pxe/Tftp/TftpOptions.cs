using System.Net;

namespace Provisioner.Pxe.Tftp;

/// <summary>
/// Configuration of the read-only TFTP server.
/// <paramref name="Roots"/> are directories searched in order; a file must really live inside the root it was
/// found in (symlinks leaving it are refused). <see cref="Files"/> publishes individual, operator-chosen files
/// under fixed names after the roots are searched — used for the iPXE binaries, because Debian installs
/// <c>/usr/lib/ipxe/ipxe.efi</c> as a symlink to <c>/boot/ipxe.efi</c>, which a root would rightly refuse.
/// </summary>
/// <param name="Timeout">Retransmission timeout when the client does not negotiate one (default 1 s).</param>
/// <param name="MaxRetries">Retransmissions of one window before the session is abandoned and its slot freed.</param>
internal sealed record TftpOptions(
    IPEndPoint Listen,
    IReadOnlyList<string> Roots,
    int MaxSessions = 64,
    TimeSpan? Timeout = null,
    int MaxRetries = 5)
{
    /// <summary>Name a client asks for (no leading '/') → absolute path on disk.</summary>
    public IReadOnlyDictionary<string, string> Files { get; init; } = new Dictionary<string, string>();

    /// <summary>Upper bound for a negotiated blksize; RFC 2348 allows up to 65464 (what fits in a UDP datagram).</summary>
    public int MaxBlockSize { get; init; } = TftpNegotiation.MaxBlockSize;

    internal TimeSpan RetransmitTimeout => Timeout ?? TimeSpan.FromSeconds(1);
}
