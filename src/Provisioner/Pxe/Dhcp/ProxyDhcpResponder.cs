using System.Globalization;
using System.Net;
using System.Text;

namespace Provisioner.Pxe.Dhcp;

// Hand-written ProxyDHCP logic (PXE spec 2.1, RFC 4578, UEFI HTTP boot): no DHCP library is available on the
// NuGet mirror. Pure and synchronous so every decision can be tested without sockets; ProxyDhcpServer does the I/O.

/// <summary>Which of the two ProxyDHCP ports a request arrived on.</summary>
internal enum ProxyDhcpPort
{
    /// <summary>UDP 67: broadcast DHCPDISCOVER, answered with an address-less DHCPOFFER.</summary>
    Dhcp,
    /// <summary>UDP 4011: the PXE client's unicast DHCPREQUEST to the boot server, answered with a DHCPACK.</summary>
    BootServer,
}

/// <summary>What a client is sent to boot next.</summary>
internal enum BootTarget
{
    /// <summary>An iPXE binary over TFTP from <c>next-server</c> (PXE firmware, or the chain-first hop).</summary>
    TftpBinary,
    /// <summary>ipxe.efi by HTTP URL (UEFI HTTP boot).</summary>
    HttpBinary,
    /// <summary><c>/boot.ipxe</c> by HTTP URL (the client already runs iPXE).</summary>
    IpxeScript,
}

/// <summary>The network facts a reply depends on, looked up per request because HTTP ports are known only once Kestrel runs.</summary>
/// <param name="ServerAddress">Our IPv4 address on the served interface: next-server and server identifier.</param>
/// <param name="HttpBase">Base URL of this server as the client can reach it (e.g. http://192.0.2.1:8080); null = none.</param>
internal sealed record ProxyDhcpContext(IPAddress ServerAddress, Uri? HttpBase);

/// <summary>Settings of the responder.</summary>
/// <param name="AvailableBinaries">iPXE binaries that exist and are served (e.g. undionly.kpxe, ipxe.efi).</param>
/// <param name="UefiBootFile">Binary for x64 UEFI PXE firmware.</param>
/// <param name="ChainFirst">Send iPXE ROMs through our iPXE binary once before boot.ipxe.</param>
internal sealed record ProxyDhcpSettings(IReadOnlySet<string> AvailableBinaries, string UefiBootFile = PxeOptions.IpxeEfi, bool ChainFirst = false)
{
    /// <summary>How long a chain-first hop is remembered per MAC: a boot that takes longer starts over with the hop.</summary>
    public TimeSpan ChainWindow { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>Bounds the chain-first memory, so a flood of forged MACs cannot grow it without limit.</summary>
    public int MaxTrackedClients { get; init; } = 4096;
}

/// <summary>The outcome for one datagram: a reply to send, or the reason it was ignored (for logs and tests).</summary>
internal sealed record ProxyDhcpAnswer(DhcpPacket? Reply, BootTarget? Target, string Reason)
{
    public static ProxyDhcpAnswer Ignore(string reason) => new(null, null, reason);
}

/// <summary>
/// Decides the ProxyDHCP answer for one request. Answers only PXE clients (vendor class <c>PXEClient</c>) and UEFI
/// HTTP boot clients (<c>HTTPClient</c>) and never offers an address (yiaddr 0.0.0.0), so it coexists with the
/// site's DHCP server. Clients that already run iPXE get the boot.ipxe URL instead of an iPXE binary, which is
/// what ends the chainload loop. Thread-safe.
/// </summary>
internal sealed class ProxyDhcpResponder(ProxyDhcpSettings settings, TimeProvider time)
{
    public const string PxeClient = "PXEClient", HttpClient = "HTTPClient", IpxeUserClass = "iPXE";
    /// <summary>RFC 4578 architecture types this server has binaries for.</summary>
    public const ushort ArchBios = 0, ArchX64Uefi = 7, ArchX64UefiAlt = 9, ArchX64UefiHttp = 16;
    private const int BootFileFieldSize = 128;
    /// <summary>PXE option 43, sub-option 6 (discovery control) = 8: boot the file in this offer, skip boot-server discovery and menus.</summary>
    private static readonly byte[] PxeVendorOptions = [6, 1, 8, DhcpOption.End];

    private readonly Lock _gate = new();
    private readonly Dictionary<string, ChainHop> _hops = new(StringComparer.Ordinal);

    private sealed record ChainHop(uint TransactionId, DateTimeOffset At);

    /// <summary>MACs remembered for chain-first; never more than <see cref="ProxyDhcpSettings.MaxTrackedClients"/>.</summary>
    public int TrackedClients
    {
        get { lock (_gate) return _hops.Count; }
    }

    public ProxyDhcpAnswer Handle(ReadOnlySpan<byte> datagram, ProxyDhcpPort port, ProxyDhcpContext context)
    {
        if (!DhcpPacket.TryParse(datagram, out var request, out var error)) return ProxyDhcpAnswer.Ignore("malformed: " + error);
        return Handle(request, port, context);
    }

    public ProxyDhcpAnswer Handle(DhcpPacket request, ProxyDhcpPort port, ProxyDhcpContext context)
    {
        if (request.Op != 1) return ProxyDhcpAnswer.Ignore("not a BOOTREQUEST");
        if (request.ClientHardwareAddress.Length == 0) return ProxyDhcpAnswer.Ignore("no client hardware address");
        var expected = port == ProxyDhcpPort.Dhcp ? DhcpMessageType.Discover : DhcpMessageType.Request;
        // On port 67 a REQUEST names the real DHCP server (option 54), never us: it is not ours to answer.
        if (request.MessageType != expected) return ProxyDhcpAnswer.Ignore($"{Describe(request.MessageType)} on the {port} port");

        var vendorClass = request.VendorClass ?? "";
        var isHttpClient = vendorClass.StartsWith(HttpClient, StringComparison.Ordinal);
        if (!vendorClass.StartsWith(PxeClient, StringComparison.Ordinal) && !isHttpClient)
            return ProxyDhcpAnswer.Ignore("not a PXE client (vendor class '" + Printable(vendorClass) + "')");

        var arch = Architecture(request, vendorClass);
        var isIpxe = request.UserClass == IpxeUserClass || request.Option(DhcpOption.IpxeEncapsulated) is not null;

        var binary = arch switch
        {
            ArchBios => PxeOptions.UndionlyKpxe,
            ArchX64Uefi or ArchX64UefiAlt => settings.UefiBootFile,
            _ => null,
        };
        // Chain-first needs a binary for the client's architecture; without one the iPXE it runs will do.
        var chainHop = isIpxe && binary is not null && settings.AvailableBinaries.Contains(binary) && NeedsChainHop(request);

        BootTarget target;
        string bootFile;
        if (isIpxe && !chainHop)
        {
            if (context.HttpBase is null) return ProxyDhcpAnswer.Ignore("iPXE client, but this server has no HTTP address reachable on the interface");
            target = BootTarget.IpxeScript;
            bootFile = new Uri(context.HttpBase, "boot.ipxe").AbsoluteUri;
        }
        else if (isHttpClient)
        {
            if (arch != ArchX64UefiHttp) return ProxyDhcpAnswer.Ignore($"no HTTP boot file for architecture {arch}");
            if (!settings.AvailableBinaries.Contains(PxeOptions.IpxeEfi)) return ProxyDhcpAnswer.Ignore($"{PxeOptions.IpxeEfi} is not installed");
            if (context.HttpBase is null) return ProxyDhcpAnswer.Ignore("HTTP boot client, but this server has no HTTP address reachable on the interface");
            target = BootTarget.HttpBinary;
            bootFile = new Uri(context.HttpBase, PxeHttp.PathPrefix + PxeOptions.IpxeEfi).AbsoluteUri;
        }
        else
        {
            if (binary is null) return ProxyDhcpAnswer.Ignore($"no boot file for architecture {arch}");
            if (!settings.AvailableBinaries.Contains(binary)) return ProxyDhcpAnswer.Ignore($"{binary} is not installed");
            target = BootTarget.TftpBinary;
            bootFile = binary;
            if (chainHop) RecordChainHop(request);
        }

        return new ProxyDhcpAnswer(Reply(request, port, context, bootFile, isHttpClient ? HttpClient : PxeClient), target,
            $"{Describe(request.MessageType)} from {Mac(request)} xid {request.TransactionId:x8} (arch {arch}{(isIpxe ? ", iPXE" : "")}): {bootFile}");
    }

    /// <summary>Option 93 when sent; else the <c>Arch:xxxxx</c> field of the vendor class; else BIOS (old PXE ROMs send neither).</summary>
    private static ushort Architecture(DhcpPacket request, string vendorClass)
    {
        if (request.ClientArchitectures is [var first, ..]) return first;
        var parts = vendorClass.Split(':');
        var i = Array.IndexOf(parts, "Arch");
        return i >= 0 && i + 1 < parts.Length && ushort.TryParse(parts[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var a) ? a : ArchBios;
    }

    /// <summary>
    /// Chain-first: an iPXE client whose MAC has not been sent through our binary yet (within the window) gets the
    /// binary. The OFFER and the 4011 ACK of the same transaction must agree, so the hop is keyed by transaction id:
    /// only a later transaction (the freshly loaded iPXE's own DHCP) counts as "already hopped".
    /// </summary>
    private bool NeedsChainHop(DhcpPacket request)
    {
        if (!settings.ChainFirst) return false;
        lock (_gate)
        {
            return !_hops.TryGetValue(Mac(request), out var hop) || time.GetUtcNow() - hop.At > settings.ChainWindow
                   || hop.TransactionId == request.TransactionId;
        }
    }

    private void RecordChainHop(DhcpPacket request)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            var mac = Mac(request);
            if (_hops.TryGetValue(mac, out var existing) && existing.TransactionId == request.TransactionId
                && now - existing.At <= settings.ChainWindow) return;
            if (_hops.Count >= settings.MaxTrackedClients && !_hops.ContainsKey(mac))
            {
                foreach (var stale in _hops.Where(h => now - h.Value.At > settings.ChainWindow).Select(h => h.Key).ToList())
                    _hops.Remove(stale);
                if (_hops.Count >= settings.MaxTrackedClients)
                    _hops.Remove(_hops.MinBy(h => h.Value.At).Key);
            }
            _hops[mac] = new ChainHop(request.TransactionId, now);
        }
    }

    private static DhcpPacket Reply(DhcpPacket request, ProxyDhcpPort port, ProxyDhcpContext context, string bootFile, string vendorClass)
    {
        var options = new List<DhcpOption>
        {
            new(DhcpOption.MessageType, [(byte)(port == ProxyDhcpPort.Dhcp ? DhcpMessageType.Offer : DhcpMessageType.Ack)]),
            DhcpOption.FromAddress(DhcpOption.ServerIdentifier, context.ServerAddress),
            DhcpOption.FromString(DhcpOption.VendorClass, vendorClass),
        };
        if (vendorClass == PxeClient) options.Add(new DhcpOption(DhcpOption.VendorSpecific, PxeVendorOptions));
        if (request.Option(DhcpOption.ClientUuid) is { } uuid) options.Add(new DhcpOption(DhcpOption.ClientUuid, uuid));
        // The BOOTP file field holds 127 characters; a longer URL goes in option 67 alone.
        var fits = Encoding.Latin1.GetByteCount(bootFile) < BootFileFieldSize;
        if (!fits) options.Add(DhcpOption.FromString(DhcpOption.BootFileName, bootFile));
        return new DhcpPacket
        {
            Op = 2,
            HardwareType = request.HardwareType,
            TransactionId = request.TransactionId,
            Flags = request.Flags,
            ClientAddress = port == ProxyDhcpPort.BootServer ? request.ClientAddress : IPAddress.Any,
            YourAddress = IPAddress.Any,
            ServerAddress = context.ServerAddress,
            GatewayAddress = request.GatewayAddress,
            ClientHardwareAddress = request.ClientHardwareAddress,
            BootFileName = fits ? bootFile : "",
            Options = options,
        };
    }

    internal static string Mac(DhcpPacket request) =>
        string.Join(':', request.ClientHardwareAddress.Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));

    /// <summary>Client-chosen text made safe for a log line: printable ASCII only, bounded.</summary>
    private static string Printable(string text) =>
        new([.. text.Take(64).Select(c => c is >= ' ' and <= '~' ? c : '?')]);

    private static string Describe(DhcpMessageType? type) => type is { } t ? "DHCP" + t.ToString().ToUpperInvariant() : "BOOTP (no message type)";
}
