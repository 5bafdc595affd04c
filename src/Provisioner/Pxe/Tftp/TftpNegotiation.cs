using System.Globalization;

namespace Provisioner.Pxe.Tftp;

/// <summary>The transfer parameters agreed for one session, and the OACK that tells the client.</summary>
internal sealed record TftpTransferParameters(
    int BlockSize,
    int WindowSize,
    TimeSpan Timeout,
    IReadOnlyList<KeyValuePair<string, string>> Acknowledged)
{
    public bool NeedsOptionAck => Acknowledged.Count > 0;
}

/// <summary>
/// RFC 2347 option negotiation for a read request: blksize (RFC 2348), timeout and tsize (RFC 2349),
/// windowsize (RFC 7440). Unknown or invalid options are left out of the OACK, which per RFC 2347 means
/// "not accepted" — the transfer then uses the default for that option.
/// </summary>
internal static class TftpNegotiation
{
    public const int DefaultBlockSize = 512;
    public const int MinBlockSize = 8;
    public const int MaxBlockSize = 65464;
    /// <summary>Caps the per-session buffer (one window is held in memory for retransmission).</summary>
    public const int MaxWindowBytes = 1 << 20;

    public static TftpTransferParameters Negotiate(
        IReadOnlyList<KeyValuePair<string, string>> requested, long fileSize, TftpOptions server)
    {
        int blockSize = DefaultBlockSize, windowSize = 1;
        var timeout = server.RetransmitTimeout;
        var acknowledged = new List<KeyValuePair<string, string>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        int maxBlock = Math.Clamp(server.MaxBlockSize, MinBlockSize, MaxBlockSize);

        foreach (var (name, value) in requested)
        {
            if (!seen.Add(name)) continue; // a repeated option: the first one wins
            switch (name)
            {
                case "blksize" when TryParseInt(value, out var b) && b >= MinBlockSize:
                    blockSize = Math.Min(b, maxBlock);
                    acknowledged.Add(new(name, Format(blockSize)));
                    break;
                case "timeout" when TryParseInt(value, out var t) && t is >= 1 and <= 255:
                    timeout = TimeSpan.FromSeconds(t);
                    acknowledged.Add(new(name, Format(t)));
                    break;
                case "tsize" when TryParseInt(value, out _):
                    acknowledged.Add(new(name, fileSize.ToString(CultureInfo.InvariantCulture)));
                    break;
                case "windowsize" when TryParseInt(value, out var w) && w is >= 1 and <= 65535:
                    windowSize = w;
                    acknowledged.Add(new(name, "")); // value filled in below, once blksize is known
                    break;
            }
        }

        // Clamp the window only after blksize is settled, whatever order the client sent them in.
        windowSize = Math.Clamp(windowSize, 1, Math.Max(1, MaxWindowBytes / blockSize));
        int w2 = acknowledged.FindIndex(o => o.Key == "windowsize");
        if (w2 >= 0) acknowledged[w2] = new("windowsize", Format(windowSize));

        return new TftpTransferParameters(blockSize, windowSize, timeout, acknowledged);
    }

    private static bool TryParseInt(string value, out int result) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out result);

    private static string Format(int value) => value.ToString(CultureInfo.InvariantCulture);
}
