using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Provisioner.Pxe.Tftp;

/// <summary>
/// Read-only TFTP server (RFC 1350, 2347, 2348, 2349, 7440) for PXE: serves files from <see cref="TftpOptions.Roots"/>
/// and <see cref="TftpOptions.Files"/>, refuses writes. Written in-house because no TFTP library is available on
/// the NuGet mirror. The listener only dispatches; each transfer is an independent task on its own socket, so a
/// slow client cannot stall the others, and at most <see cref="TftpOptions.MaxSessions"/> run at once.
/// </summary>
internal sealed partial class TftpServer(TftpOptions options, ILogger<TftpServer> logger) : IAsyncDisposable
{
    private const int MaxRequestSize = 4096; // RFC 2347 keeps requests within 512 bytes; be lenient
    private readonly TftpFileResolver _resolver = new(options.Roots, options.Files);
    private readonly ConcurrentDictionary<IPEndPoint, Task> _sessions = new();
    private readonly CancellationTokenSource _stopping = new();
    private Socket? _listener;
    private Task? _listenLoop;
    private int _sessionCount;
    private int _stopped;

    /// <summary>The bound address; useful when <see cref="TftpOptions.Listen"/> used port 0.</summary>
    public IPEndPoint LocalEndPoint =>
        (IPEndPoint?)_listener?.LocalEndPoint ?? throw new InvalidOperationException("The TFTP server is not started.");

    /// <summary>Number of transfers currently running.</summary>
    public int ActiveSessions => Volatile.Read(ref _sessionCount);

    /// <summary>Binds the listening socket (so a bind failure surfaces here) and starts serving.</summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        if (_listener is not null) throw new InvalidOperationException("The TFTP server is already started.");
        var socket = new Socket(options.Listen.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(options.Listen);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        _listener = socket;
        _listenLoop = Task.Run(() => ListenAsync(socket, _stopping.Token), CancellationToken.None);
        LogListening(logger, LocalEndPoint);
        return Task.CompletedTask;
    }

    /// <summary>Stops listening, cancels running transfers and waits for them to release their sockets.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_listener is null || Interlocked.Exchange(ref _stopped, 1) == 1) return;
        await _stopping.CancelAsync();
        _listener.Dispose();
        if (_listenLoop is not null) await _listenLoop.WaitAsync(cancellationToken);
        await Task.WhenAll(_sessions.Values).WaitAsync(cancellationToken);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(CancellationToken.None);
        _stopping.Dispose();
    }

    private async Task ListenAsync(Socket listener, CancellationToken ct)
    {
        var buffer = new byte[MaxRequestSize];
        EndPoint any = listener.AddressFamily == AddressFamily.InterNetworkV6
            ? new IPEndPoint(IPAddress.IPv6Any, 0)
            : new IPEndPoint(IPAddress.Any, 0);
        while (!ct.IsCancellationRequested)
        {
            SocketReceiveMessageFromResult received;
            try
            {
                received = await listener.ReceiveMessageFromAsync(buffer, SocketFlags.None, any, ct);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException && ct.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                LogReceiveFailed(logger, e.SocketErrorCode);
                continue;
            }
            var client = (IPEndPoint)received.RemoteEndPoint;
            try
            {
                await DispatchAsync(listener, buffer.AsMemory(0, received.ReceivedBytes), client,
                    received.PacketInformation.Address, ct);
            }
            catch (SocketException e)
            {
                LogReceiveFailed(logger, e.SocketErrorCode);
            }
        }
    }

    private async Task DispatchAsync(Socket listener, ReadOnlyMemory<byte> datagram, IPEndPoint client,
        IPAddress? localAddress, CancellationToken ct)
    {
        switch (TftpPacket.ReadOpcode(datagram.Span))
        {
            case TftpOpcode.WriteRequest:
                LogRefused(logger, client, "write request");
                await ReplyAsync(listener, client, TftpErrorCode.AccessViolation, "access violation: this server is read-only", ct);
                return;
            case TftpOpcode.ReadRequest:
                break;
            case TftpOpcode.Data or TftpOpcode.Ack or TftpOpcode.Error or TftpOpcode.OptionAck:
                return; // a late packet of a finished transfer; answering could feed a loop
            default:
                await ReplyAsync(listener, client, TftpErrorCode.IllegalOperation, "illegal TFTP operation", ct);
                return;
        }

        if (!TftpPacket.TryParseRequest(datagram.Span, out var request, out var error))
        {
            LogRefused(logger, client, error);
            await ReplyAsync(listener, client, TftpErrorCode.IllegalOperation, "malformed request: " + error, ct);
            return;
        }
        // A client that retransmits its RRQ before our first reply arrives must not get a second session.
        if (_sessions.ContainsKey(client)) return;

        if (Interlocked.Increment(ref _sessionCount) > options.MaxSessions)
        {
            Interlocked.Decrement(ref _sessionCount);
            LogRefused(logger, client, "server busy");
            await ReplyAsync(listener, client, TftpErrorCode.NotDefined, "server busy, try again later", ct);
            return;
        }

        Socket socket;
        try
        {
            socket = OpenTransferSocket(localAddress);
        }
        catch
        {
            Interlocked.Decrement(ref _sessionCount);
            throw;
        }
        var session = new TftpSession(socket, client, request!, _resolver, options, logger);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var run = Task.Run(async () =>
        {
            await gate.Task; // registered in _sessions before it can finish and unregister itself
            try { await session.RunAsync(ct); }
            finally
            {
                _sessions.TryRemove(client, out _);
                Interlocked.Decrement(ref _sessionCount);
            }
        }, CancellationToken.None);
        _sessions[client] = run;
        gate.SetResult();
    }

    /// <summary>
    /// The transfer's TID. It is bound to the address the request arrived on, so a multi-homed server answers
    /// from the address the client talked to.
    /// </summary>
    private Socket OpenTransferSocket(IPAddress? localAddress)
    {
        var address = localAddress is null || localAddress.Equals(IPAddress.Any) || localAddress.Equals(IPAddress.IPv6Any)
                      || localAddress.AddressFamily != options.Listen.AddressFamily
            ? options.Listen.Address
            : localAddress;
        var socket = new Socket(options.Listen.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(new IPEndPoint(address, 0));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private static async Task ReplyAsync(Socket listener, IPEndPoint client, TftpErrorCode code, string message, CancellationToken ct) =>
        await listener.SendToAsync(TftpPacket.Error(code, message), SocketFlags.None, client, ct);

    [LoggerMessage(Level = LogLevel.Information, Message = "TFTP listening on {LocalEndPoint}")]
    private static partial void LogListening(ILogger logger, IPEndPoint localEndPoint);

    [LoggerMessage(Level = LogLevel.Information, Message = "TFTP {Client}: refused ({Reason})")]
    private static partial void LogRefused(ILogger logger, IPEndPoint client, string reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "TFTP listener socket error {Error}")]
    private static partial void LogReceiveFailed(ILogger logger, SocketError error);
}
