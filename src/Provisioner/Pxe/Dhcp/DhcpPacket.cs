using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace Provisioner.Pxe.Dhcp;

// Hand-written DHCP/BOOTP codec (RFC 2131, 2132, 3396, 4578): no DHCP library is available on the NuGet mirror.
// TryParse never throws and allocates at most a small multiple of its (size-capped) input.

internal enum DhcpMessageType : byte
{
    Discover = 1, Offer = 2, Request = 3, Decline = 4, Ack = 5, Nak = 6, Release = 7, Inform = 8,
}

/// <summary>One option; repeated instances of a code in the packet are concatenated (RFC 3396).</summary>
internal sealed record DhcpOption(byte Code, byte[] Data)
{
    public const byte Pad = 0, End = 255;
    public const byte VendorSpecific = 43, RequestedAddress = 50, Overload = 52, MessageType = 53, ServerIdentifier = 54,
        ParameterRequestList = 55, VendorClass = 60, BootFileName = 67, UserClass = 77, ClientArchitecture = 93, ClientUuid = 97,
        IpxeEncapsulated = 175;

    public static DhcpOption FromString(byte code, string value) => new(code, Encoding.ASCII.GetBytes(value));
    public static DhcpOption FromAddress(byte code, IPAddress address) => new(code, address.MapToIPv4().GetAddressBytes());
}

/// <summary>A BOOTP/DHCP message: fixed header plus options. Immutable; build replies with <c>with</c>.</summary>
internal sealed record DhcpPacket
{
    public const int MaxPacketSize = 4096;    // larger datagrams are refused, which bounds all allocation
    private const int HeaderSize = 236;       // op .. file
    private const uint MagicCookie = 0x63825363;
    private const int MinBootpSize = 300;     // some relays and old clients drop anything shorter

    public byte Op { get; init; } = 1;                  // 1 BOOTREQUEST, 2 BOOTREPLY
    public byte HardwareType { get; init; } = 1;        // Ethernet
    public byte Hops { get; init; }
    public uint TransactionId { get; init; }
    public ushort Seconds { get; init; }
    public ushort Flags { get; init; }
    public IPAddress ClientAddress { get; init; } = IPAddress.Any;
    public IPAddress YourAddress { get; init; } = IPAddress.Any;
    public IPAddress ServerAddress { get; init; } = IPAddress.Any;
    public IPAddress GatewayAddress { get; init; } = IPAddress.Any;
    /// <summary>chaddr truncated to hlen (at most 16 bytes).</summary>
    public byte[] ClientHardwareAddress { get; init; } = [];
    public string ServerName { get; init; } = "";
    public string BootFileName { get; init; } = "";
    public IReadOnlyList<DhcpOption> Options { get; init; } = [];

    public byte[]? Option(byte code) => Options.FirstOrDefault(o => o.Code == code)?.Data;

    public DhcpMessageType? MessageType => Option(DhcpOption.MessageType) is [var t] ? (DhcpMessageType)t : null;
    public string? VendorClass => Option(DhcpOption.VendorClass) is { } v ? Encoding.Latin1.GetString(v) : null;
    /// <summary>iPXE sends a bare string ("iPXE") here rather than RFC 3004's length-prefixed list.</summary>
    public string? UserClass => Option(DhcpOption.UserClass) is { } v ? Encoding.Latin1.GetString(v) : null;
    public IPAddress? ServerIdentifier => Option(DhcpOption.ServerIdentifier) is { Length: 4 } a ? new IPAddress(a) : null;

    /// <summary>RFC 4578 client system architectures (0 BIOS, 7/9 x64 UEFI, 11 ARM64 UEFI, ...).</summary>
    public IReadOnlyList<ushort> ClientArchitectures => Option(DhcpOption.ClientArchitecture) is { } a
        ? Enumerable.Range(0, a.Length / 2).Select(i => BinaryPrimitives.ReadUInt16BigEndian(a.AsSpan(i * 2))).ToList()
        : [];

    /// <summary>The 16 UUID bytes of option 97 (type 0) exactly as sent; byte order varies between firmwares.</summary>
    public byte[]? ClientUuid => Option(DhcpOption.ClientUuid) is { Length: 17 } u && u[0] == 0 ? u[1..] : null;

    /// <summary>Sub-options of an encapsulating option such as 43 (PXE) or 175 (iPXE); empty if absent or malformed.</summary>
    public IReadOnlyList<DhcpOption> Encapsulated(byte code)
    {
        var data = Option(code);
        var options = new List<DhcpOption>();
        return data is not null && TryReadOptions(data, options, out _) ? options : [];
    }

    public static bool TryParse(ReadOnlySpan<byte> packet, out DhcpPacket result, out string error)
    {
        result = new DhcpPacket();
        if (packet.Length > MaxPacketSize) { error = "packet too large"; return false; }
        if (packet.Length < HeaderSize + 4) { error = "packet shorter than a BOOTP header"; return false; }
        if (BinaryPrimitives.ReadUInt32BigEndian(packet[HeaderSize..]) != MagicCookie) { error = "no DHCP magic cookie"; return false; }
        byte hlen = packet[2];
        if (hlen > 16) { error = "hardware address longer than 16 bytes"; return false; }

        var collected = new List<(byte Code, byte[] Data)>();
        if (!TryReadOptions(packet[(HeaderSize + 4)..], collected, out error)) return false;
        var sname = packet.Slice(44, 64);
        var file = packet.Slice(108, 128);
        byte overload = collected.FirstOrDefault(o => o.Code == DhcpOption.Overload).Data is [var ov] ? ov : (byte)0;
        if (overload > 3) { error = "invalid option overload value"; return false; }
        // RFC 2131 4.1: options continue in 'file', then in 'sname'.
        if ((overload & 1) != 0 && !TryReadOptions(file, collected, out error)) return false;
        if ((overload & 2) != 0 && !TryReadOptions(sname, collected, out error)) return false;

        result = new DhcpPacket
        {
            Op = packet[0],
            HardwareType = packet[1],
            Hops = packet[3],
            TransactionId = BinaryPrimitives.ReadUInt32BigEndian(packet[4..]),
            Seconds = BinaryPrimitives.ReadUInt16BigEndian(packet[8..]),
            Flags = BinaryPrimitives.ReadUInt16BigEndian(packet[10..]),
            ClientAddress = new IPAddress(packet.Slice(12, 4)),
            YourAddress = new IPAddress(packet.Slice(16, 4)),
            ServerAddress = new IPAddress(packet.Slice(20, 4)),
            GatewayAddress = new IPAddress(packet.Slice(24, 4)),
            ClientHardwareAddress = packet.Slice(28, hlen).ToArray(),
            ServerName = (overload & 2) != 0 ? "" : CString(sname),
            BootFileName = (overload & 1) != 0 ? "" : CString(file),
            Options = collected.GroupBy(o => o.Code)
                .Select(g => new DhcpOption(g.Key, g.SelectMany(o => o.Data).ToArray())).ToList(),
        };
        error = "";
        return true;
    }

    private static bool TryReadOptions(ReadOnlySpan<byte> span, List<(byte, byte[])> into, out string error)
    {
        int i = 0;
        while (i < span.Length)
        {
            byte code = span[i++];
            if (code == DhcpOption.Pad) continue;
            if (code == DhcpOption.End) break;
            if (i >= span.Length || i + 1 + span[i] > span.Length)
            {
                error = $"option {code} runs past the end of the packet";
                return false;
            }
            int length = span[i++];
            into.Add((code, span.Slice(i, length).ToArray()));
            i += length;
        }
        error = "";
        return true;
    }

    private static bool TryReadOptions(ReadOnlySpan<byte> span, List<DhcpOption> into, out string error)
    {
        var raw = new List<(byte, byte[])>();
        if (!TryReadOptions(span, raw, out error)) return false;
        into.AddRange(raw.Select(o => new DhcpOption(o.Item1, o.Item2)));
        return true;
    }

    private static string CString(ReadOnlySpan<byte> field)
    {
        int end = field.IndexOf((byte)0);
        return Encoding.Latin1.GetString(end < 0 ? field : field[..end]);
    }

    /// <summary>Serialises the packet; options longer than 255 bytes are split into repeated instances (RFC 3396).</summary>
    public byte[] ToBytes()
    {
        var bytes = new List<byte>(MinBootpSize);
        var header = new byte[HeaderSize + 4];
        header[0] = Op;
        header[1] = HardwareType;
        header[2] = (byte)Math.Min(ClientHardwareAddress.Length, 16);
        header[3] = Hops;
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(4), TransactionId);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(8), Seconds);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(10), Flags);
        ClientAddress.MapToIPv4().GetAddressBytes().CopyTo(header, 12);
        YourAddress.MapToIPv4().GetAddressBytes().CopyTo(header, 16);
        ServerAddress.MapToIPv4().GetAddressBytes().CopyTo(header, 20);
        GatewayAddress.MapToIPv4().GetAddressBytes().CopyTo(header, 24);
        ClientHardwareAddress.AsSpan(0, header[2]).CopyTo(header.AsSpan(28));
        WriteField(header.AsSpan(44, 64), ServerName);
        WriteField(header.AsSpan(108, 128), BootFileName);
        BinaryPrimitives.WriteUInt32BigEndian(header.AsSpan(HeaderSize), MagicCookie);
        bytes.AddRange(header);
        foreach (var option in Options)
        {
            for (int offset = 0; offset == 0 || offset < option.Data.Length; offset += 255)
            {
                int length = Math.Min(255, option.Data.Length - offset);
                bytes.Add(option.Code);
                bytes.Add((byte)length);
                bytes.AddRange(option.Data.AsSpan(offset, length));
            }
        }
        bytes.Add(DhcpOption.End);
        while (bytes.Count < MinBootpSize) bytes.Add(DhcpOption.Pad);
        return bytes.ToArray();
    }

    private static void WriteField(Span<byte> field, string value)
    {
        var encoded = Encoding.Latin1.GetBytes(value);
        if (encoded.Length >= field.Length) throw new ArgumentException($"'{value}' does not fit in {field.Length - 1} bytes");
        encoded.CopyTo(field);
    }
}
