using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Provisioner.Pxe.Dhcp;

/// <summary>Where the ProxyDHCP responder listens. The ports are fixed by the PXE spec; tests may move them.</summary>
/// <param name="HttpBase">Our HTTP base URL reachable at the given interface address, or null; asked per request
/// because Kestrel's ports are known only after it started.</param>
internal sealed record ProxyDhcpServerOptions(string Interface, IPAddress InterfaceAddress, Func<IPAddress, Uri?> HttpBase)
{
    public int DhcpPort { get; init; } = 67;
    public int ClientPort { get; init; } = 68;
    public int BootServerPort { get; init; } = 4011;
    /// <summary>Where our TFTP server listens; firmware can only ask port 69, so anything else is warned about.</summary>
    public int TftpPort { get; init; } = PxeOptions.TftpPort;
}

/// <summary>
/// The sockets of ProxyDHCP, both pinned to one interface with SO_BINDTODEVICE so we never answer on another
/// network of the host:
/// <list type="bullet">
/// <item>UDP 67 is bound to 255.255.255.255: it receives only broadcasts (DISCOVERs), never a unicast meant for
/// the site's DHCP server on the same host (RENEWING requests), which shares the port through SO_REUSEADDR.
/// Linux sends from a broadcast-bound socket with the interface's own address as source.</item>
/// <item>UDP 4011 (PXE boot-server REQUESTs, unicast to us) is bound to 0.0.0.0.</item>
/// </list>
/// Relayed requests (unicast to port 67) are therefore not served: ProxyDHCP answers on its own segment.
/// Each datagram is handled in isolation: whatever it contains, the loop logs and goes on.
/// </summary>
internal sealed partial class ProxyDhcpServer(ProxyDhcpServerOptions options, ProxyDhcpResponder responder, ILogger<ProxyDhcpServer> logger)
    : IHostedService, IAsyncDisposable
{
    private const int SolSocket = 1, SoBindToDevice = 25; // <asm-generic/socket.h>
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<(Socket Socket, Task Loop)> _listeners = [];
    private int _stopped;

    /// <summary>Bound ports (DHCP first); useful when the options asked for port 0.</summary>
    public IReadOnlyList<int> LocalPorts => [.. _listeners.Select(l => ((IPEndPoint)l.Socket.LocalEndPoint!).Port)];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("ProxyDHCP needs Linux (SO_BINDTODEVICE)");
        if (_listeners.Count > 0) throw new InvalidOperationException("ProxyDHCP is already started.");
        var dhcp = Open(IPAddress.Broadcast, options.DhcpPort);
        Socket bootServer;
        try { bootServer = Open(IPAddress.Any, options.BootServerPort); }
        catch { dhcp.Dispose(); throw; }
        _listeners.Add((dhcp, Task.Run(() => ListenAsync(dhcp, ProxyDhcpPort.Dhcp, _stopping.Token), CancellationToken.None)));
        _listeners.Add((bootServer, Task.Run(() => ListenAsync(bootServer, ProxyDhcpPort.BootServer, _stopping.Token), CancellationToken.None)));
        LogListening(logger, options.Interface, options.InterfaceAddress, LocalPorts[0], LocalPorts[1]);
        if (options.TftpPort != PxeOptions.TftpPort) LogTftpPort(logger, options.TftpPort);
        return Task.CompletedTask;
    }

    private Socket Open(IPAddress address, int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.EnableBroadcast = true;
            socket.SetRawSocketOption(SolSocket, SoBindToDevice, Encoding.ASCII.GetBytes(options.Interface + "\0"));
            socket.Bind(new IPEndPoint(address, port));
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            var hint = e.SocketErrorCode switch
            {
                SocketError.AccessDenied => " (needs root, or CAP_NET_RAW and CAP_NET_BIND_SERVICE)",
                SocketError.AddressAlreadyInUse => " (a DHCP server holds the port exclusively; run dnsmasq with --bind-interfaces)",
                _ => "",
            };
            throw new IOException($"--proxy-dhcp: cannot listen on UDP port {port} of interface '{options.Interface}': {e.Message}{hint}", e);
        }
    }

    private async Task ListenAsync(Socket socket, ProxyDhcpPort port, CancellationToken ct)
    {
        // One byte more than the parser accepts, so an oversized datagram is seen as oversized rather than cut.
        var buffer = new byte[DhcpPacket.MaxPacketSize + 1];
        EndPoint any = new IPEndPoint(IPAddress.Any, 0);
        while (!ct.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await socket.ReceiveFromAsync(buffer, SocketFlags.None, any, ct);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException && ct.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                LogSocketError(logger, port, e.SocketErrorCode);
                continue;
            }
            try
            {
                await AnswerAsync(socket, port, buffer.AsMemory(0, received.ReceivedBytes), (IPEndPoint)received.RemoteEndPoint, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
            {
                LogHandlerFailed(logger, e, port, received.RemoteEndPoint);
            }
        }
    }

    private async Task AnswerAsync(Socket socket, ProxyDhcpPort port, ReadOnlyMemory<byte> datagram, IPEndPoint from, CancellationToken ct)
    {
        var context = new ProxyDhcpContext(options.InterfaceAddress, options.HttpBase(options.InterfaceAddress));
        var answer = responder.Handle(datagram.Span, port, context);
        if (answer.Reply is not { } reply)
        {
            LogIgnored(logger, port, from, answer.Reason);
            return;
        }
        // On 67 the client has no address yet: broadcast on the interface. On 4011 it has one and waits on the
        // port it sent from.
        var to = port == ProxyDhcpPort.Dhcp ? new IPEndPoint(IPAddress.Broadcast, options.ClientPort) : from;
        await socket.SendToAsync(reply.ToBytes(), SocketFlags.None, to, ct);
        LogAnswered(logger, port, answer.Target!.Value, answer.Reason);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _stopped, 1) == 1) return;
        await _stopping.CancelAsync();
        foreach (var (socket, _) in _listeners) socket.Dispose();
        await Task.WhenAll(_listeners.Select(l => l.Loop)).WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _stopping.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "ProxyDHCP listening on {Interface} ({Address}), UDP {DhcpPort} and {BootServerPort}")]
    private static partial void LogListening(ILogger logger, string @interface, IPAddress address, int dhcpPort, int bootServerPort);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ProxyDHCP sends PXE firmware to TFTP, which always asks port 69, but --tftp listens on port {TftpPort}")]
    private static partial void LogTftpPort(ILogger logger, int tftpPort);

    [LoggerMessage(Level = LogLevel.Information, Message = "ProxyDHCP {Port}: {Target} for {Reason}")]
    private static partial void LogAnswered(ILogger logger, ProxyDhcpPort port, BootTarget target, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "ProxyDHCP {Port}: ignored {From}: {Reason}")]
    private static partial void LogIgnored(ILogger logger, ProxyDhcpPort port, IPEndPoint from, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "ProxyDHCP {Port}: socket error {Error}")]
    private static partial void LogSocketError(ILogger logger, ProxyDhcpPort port, SocketError error);

    [LoggerMessage(Level = LogLevel.Warning, Message = "ProxyDHCP {Port}: failed to answer {From}")]
    private static partial void LogHandlerFailed(ILogger logger, Exception exception, ProxyDhcpPort port, EndPoint from);
}
