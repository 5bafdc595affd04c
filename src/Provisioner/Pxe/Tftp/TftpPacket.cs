using System.Buffers.Binary;
using System.Text;

namespace Provisioner.Pxe.Tftp;

// Hand-written TFTP codec (RFC 1350, RFC 2347 options): no TFTP library is available on the NuGet mirror.
// Every parser here is bounded by the datagram it is given and never throws on malformed input.

internal enum TftpOpcode : ushort
{
    ReadRequest = 1,
    WriteRequest = 2,
    Data = 3,
    Ack = 4,
    Error = 5,
    OptionAck = 6,
}

internal enum TftpErrorCode : ushort
{
    NotDefined = 0,
    FileNotFound = 1,
    AccessViolation = 2,
    DiskFull = 3,
    IllegalOperation = 4,
    UnknownTransferId = 5,
    FileExists = 6,
    NoSuchUser = 7,
    OptionsRefused = 8,
}

/// <summary>A parsed RRQ or WRQ. Option names are lower-cased; values are kept verbatim.</summary>
internal sealed record TftpRequest(TftpOpcode Opcode, string FileName, string Mode, IReadOnlyList<KeyValuePair<string, string>> Options);

internal static class TftpPacket
{
    public const int HeaderSize = 4;
    /// <summary>More options than this in one request is not a real client.</summary>
    private const int MaxOptions = 16;
    private static readonly Encoding StrictUtf8 = new UTF8Encoding(false, throwOnInvalidBytes: true);

    public static TftpOpcode? ReadOpcode(ReadOnlySpan<byte> packet) =>
        packet.Length >= 2 ? (TftpOpcode)BinaryPrimitives.ReadUInt16BigEndian(packet) : null;

    public static bool TryParseRequest(ReadOnlySpan<byte> packet, out TftpRequest? request, out string error)
    {
        request = null;
        var opcode = ReadOpcode(packet);
        if (opcode is not (TftpOpcode.ReadRequest or TftpOpcode.WriteRequest))
        {
            error = "not a read or write request";
            return false;
        }
        var rest = packet[2..];
        if (!TryReadString(ref rest, out var fileName) || fileName.Length == 0)
        {
            error = "missing or malformed file name";
            return false;
        }
        if (!TryReadString(ref rest, out var mode) || mode.Length == 0)
        {
            error = "missing or malformed transfer mode";
            return false;
        }
        var options = new List<KeyValuePair<string, string>>();
        while (!rest.IsEmpty)
        {
            // Some clients pad requests with trailing NULs; tolerate them rather than fail the boot.
            if (rest.IndexOfAnyExcept((byte)0) < 0) break;
            if (options.Count == MaxOptions || !TryReadString(ref rest, out var name) || !TryReadString(ref rest, out var value))
            {
                error = "malformed options";
                return false;
            }
            options.Add(new(name.ToLowerInvariant(), value));
        }
        request = new TftpRequest(opcode.Value, fileName, mode, options);
        error = "";
        return true;
    }

    /// <summary>Reads one NUL-terminated string made of printable characters (no control bytes).</summary>
    private static bool TryReadString(ref ReadOnlySpan<byte> span, out string value)
    {
        value = "";
        int end = span.IndexOf((byte)0);
        if (end < 0) return false;
        var raw = span[..end];
        foreach (var b in raw)
            if (b < 0x20 || b == 0x7F) return false;
        try { value = StrictUtf8.GetString(raw); }
        catch (DecoderFallbackException) { return false; }
        span = span[(end + 1)..];
        return true;
    }

    public static bool TryReadAck(ReadOnlySpan<byte> packet, out ushort block)
    {
        block = 0;
        if (packet.Length < 4 || ReadOpcode(packet) != TftpOpcode.Ack) return false;
        block = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        return true;
    }

    public static bool TryReadError(ReadOnlySpan<byte> packet, out TftpErrorCode code, out string message)
    {
        code = default;
        message = "";
        if (packet.Length < 4 || ReadOpcode(packet) != TftpOpcode.Error) return false;
        code = (TftpErrorCode)BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        var text = packet[4..];
        int end = text.IndexOf((byte)0);
        message = Encoding.ASCII.GetString(end < 0 ? text : text[..end]);
        return true;
    }

    /// <summary>Writes the 4-byte DATA header in front of a block already placed at <c>packet[4..]</c>.</summary>
    public static void WriteDataHeader(Span<byte> packet, ushort block)
    {
        BinaryPrimitives.WriteUInt16BigEndian(packet, (ushort)TftpOpcode.Data);
        BinaryPrimitives.WriteUInt16BigEndian(packet[2..], block);
    }

    public static byte[] Error(TftpErrorCode code, string message)
    {
        var text = Encoding.ASCII.GetBytes(message);
        var packet = new byte[HeaderSize + text.Length + 1];
        BinaryPrimitives.WriteUInt16BigEndian(packet, (ushort)TftpOpcode.Error);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)code);
        text.CopyTo(packet, HeaderSize);
        return packet;
    }

    public static byte[] OptionAck(IReadOnlyList<KeyValuePair<string, string>> options)
    {
        var body = new List<byte>(64);
        foreach (var (name, value) in options)
        {
            body.AddRange(Encoding.ASCII.GetBytes(name));
            body.Add(0);
            body.AddRange(Encoding.ASCII.GetBytes(value));
            body.Add(0);
        }
        var packet = new byte[2 + body.Count];
        BinaryPrimitives.WriteUInt16BigEndian(packet, (ushort)TftpOpcode.OptionAck);
        body.CopyTo(packet, 2);
        return packet;
    }
}
