using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Provisioner.Pxe.Tftp;

/// <summary>
/// One read transfer, on its own ephemeral socket (the server's TID). Sends a window of DATA blocks, then waits
/// for the ACK of any block in it. Only a timeout causes a retransmission: a duplicate or stale ACK is ignored,
/// which is what prevents the Sorcerer's Apprentice syndrome (RFC 1123 4.2.3.1). An ACK for a block inside the
/// window (RFC 7440: the client saw a gap) slides the window to the block after it.
/// The file is streamed: only the current window is held in memory.
/// </summary>
internal sealed partial class TftpSession(
    Socket socket, IPEndPoint client, TftpRequest request, TftpFileResolver resolver, TftpOptions options, ILogger logger)
{
    private readonly byte[] _receiveBuffer = new byte[2048];
    private Task<SocketReceiveFromResult>? _pendingReceive;

    public async Task RunAsync(CancellationToken ct)
    {
        var started = Stopwatch.GetTimestamp();
        long bytesSent = 0;
        int blockSize = 0;
        string outcome;
        Exception? failure = null;
        try
        {
            (outcome, bytesSent, blockSize) = await TransferAsync(ct);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            outcome = "server stopping";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or SocketException)
        {
            outcome = "failed: " + e.Message;
            failure = e;
        }
        finally
        {
            socket.Dispose();
            await ObservePendingReceiveAsync();
        }
        LogTransfer(logger, failure, client, request.FileName, bytesSent, blockSize,
            (long)Stopwatch.GetElapsedTime(started).TotalMilliseconds, outcome);
    }

    private async Task<(string Outcome, long Bytes, int BlockSize)> TransferAsync(CancellationToken ct)
    {
        if (!string.Equals(request.Mode, "octet", StringComparison.OrdinalIgnoreCase))
        {
            // netascii is refused rather than converted: PXE firmware and iPXE only ever ask for octet.
            await SendErrorAsync(TftpErrorCode.IllegalOperation,
                $"transfer mode '{request.Mode}' is not supported; use octet (binary)", ct);
            return ($"refused mode {request.Mode}", 0, 0);
        }

        var resolution = resolver.Resolve(request.FileName);
        if (resolution.File is not { } file)
        {
            await SendErrorAsync(resolution.Error, resolution.Message, ct);
            return ($"refused: {resolution.Message}", 0, 0);
        }

        // The length is fixed at the start: tsize promised it, and a file growing mid-transfer is not followed.
        long length = file.Length;
        var parameters = TftpNegotiation.Negotiate(request.Options, length, options);
        // A zero-length "file" may be a FIFO or device node, whose open could block forever; it has no content anyway.
        await using var stream = length == 0
            ? Stream.Null
            : new FileStream(file.FullName, FileMode.Open, FileAccess.Read, FileShare.Read, 0,
                FileOptions.Asynchronous | FileOptions.SequentialScan);

        if (parameters.NeedsOptionAck)
        {
            var oack = TftpPacket.OptionAck(parameters.Acknowledged);
            var ack0 = await SendUntilAckedAsync([oack], firstBlock: 0, parameters.Timeout, ct);
            if (ack0.Failure is { } failure) return (failure, 0, parameters.BlockSize);
        }

        int blockSize = parameters.BlockSize;
        long totalBlocks = length / blockSize + 1; // the last block is short, possibly empty
        int slot = TftpPacket.HeaderSize + blockSize;
        var window = new byte[parameters.WindowSize * slot];
        long windowStart = 1;
        while (true)
        {
            int count = (int)Math.Min(parameters.WindowSize, totalBlocks - windowStart + 1);
            var packets = new ReadOnlyMemory<byte>[count];
            stream.Position = (windowStart - 1) * blockSize;
            for (int i = 0; i < count; i++)
            {
                long remaining = length - (windowStart - 1 + i) * blockSize;
                int size = (int)Math.Clamp(remaining, 0, blockSize);
                var packet = window.AsMemory(i * slot, TftpPacket.HeaderSize + size);
                int read = await stream.ReadAtLeastAsync(packet[TftpPacket.HeaderSize..], size, throwOnEndOfStream: false, ct);
                if (read < size) return ("failed: file shrank during transfer", (windowStart - 1) * blockSize, blockSize);
                TftpPacket.WriteDataHeader(packet.Span, (ushort)(windowStart + i)); // wraps 65535 → 0
                packets[i] = packet;
            }

            var acked = await SendUntilAckedAsync(packets, windowStart, parameters.Timeout, ct);
            if (acked.Failure is { } failure) return (failure, (windowStart - 1) * blockSize, blockSize);
            if (acked.Block == totalBlocks) return ("complete", length, blockSize);
            windowStart = acked.Block + 1;
        }
    }

    private readonly record struct AckResult(long Block, string? Failure);

    /// <summary>
    /// Sends <paramref name="packets"/> (blocks firstBlock, firstBlock+1, …) and waits for an ACK of one of them,
    /// resending all of them only when the timeout expires. Returns the absolute number of the acknowledged block.
    /// </summary>
    private async Task<AckResult> SendUntilAckedAsync(
        ReadOnlyMemory<byte>[] packets, long firstBlock, TimeSpan timeout, CancellationToken ct)
    {
        for (int attempt = 0; attempt <= options.MaxRetries; attempt++)
        {
            foreach (var packet in packets)
                await socket.SendToAsync(packet, SocketFlags.None, client, ct);

            // Packets that are ignored (duplicates, strangers) do not extend the deadline.
            var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
            while (await ReceiveAsync(deadline, ct) is { } received)
            {
                var (from, datagram) = received;
                if (!from.Equals(client))
                {
                    var error = TftpPacket.Error(TftpErrorCode.UnknownTransferId, "unknown transfer ID");
                    await socket.SendToAsync(error, SocketFlags.None, from, ct);
                    continue;
                }
                if (TftpPacket.TryReadError(datagram.Span, out var code, out var message))
                    return new(0, $"client sent error {(int)code}: {message}");
                if (!TftpPacket.TryReadAck(datagram.Span, out var ack)) continue;
                for (int i = 0; i < packets.Length; i++)
                    if ((ushort)(firstBlock + i) == ack)
                        return new(firstBlock + i, null);
                // Otherwise a duplicate or stale ACK: deliberately no reaction.
            }
        }
        return new(0, $"timed out after {options.MaxRetries} retransmissions");
    }

    /// <summary>Next datagram before <paramref name="deadline"/>, or null. A pending receive survives a timeout.</summary>
    private async Task<(IPEndPoint From, ReadOnlyMemory<byte> Datagram)?> ReceiveAsync(long deadline, CancellationToken ct)
    {
        while (true)
        {
            var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
            if (remaining <= TimeSpan.Zero) return null;
            _pendingReceive ??= socket.ReceiveFromAsync(_receiveBuffer, SocketFlags.None, AnyEndPoint, ct).AsTask();
            using var delayCancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var delay = Task.Delay(remaining, delayCancel.Token);
            if (await Task.WhenAny(_pendingReceive, delay) != _pendingReceive)
            {
                ct.ThrowIfCancellationRequested();
                return null;
            }
            delayCancel.Cancel();
            var pending = _pendingReceive;
            _pendingReceive = null;
            try
            {
                var result = await pending;
                return ((IPEndPoint)result.RemoteEndPoint, _receiveBuffer.AsMemory(0, result.ReceivedBytes));
            }
            catch (SocketException)
            {
                // e.g. an ICMP error surfaced by the stack, or an oversized datagram: not an ACK, keep waiting.
            }
        }
    }

    /// <summary>Closing the socket faults any receive still pending; observe it so nothing leaks as unobserved.</summary>
    private async Task ObservePendingReceiveAsync()
    {
        if (_pendingReceive is null) return;
        try { await _pendingReceive; }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException) { }
    }

    private EndPoint AnyEndPoint => client.AddressFamily == AddressFamily.InterNetworkV6
        ? new IPEndPoint(IPAddress.IPv6Any, 0)
        : new IPEndPoint(IPAddress.Any, 0);

    private async Task SendErrorAsync(TftpErrorCode code, string message, CancellationToken ct) =>
        await socket.SendToAsync(TftpPacket.Error(code, message), SocketFlags.None, client, ct);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "TFTP {Client} {File}: {Outcome} ({Bytes} bytes, blksize {BlockSize}, {ElapsedMs} ms)")]
    private static partial void LogTransfer(ILogger logger, Exception? failure, IPEndPoint client, string file, long bytes, int blockSize,
        long elapsedMs, string outcome);
}
