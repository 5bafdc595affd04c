using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Provisioner.Tests.Pxe.Tftp;

/// <summary>
/// A deliberately minimal TFTP client for tests that need to misbehave on purpose (drop, delay or duplicate ACKs,
/// vanish mid-transfer, speak to the wrong TID) and to see every packet the server sends, which real clients hide.
/// </summary>
internal sealed class RawTftpClient : IDisposable
{
    private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
    private readonly byte[] _buffer = new byte[70_000];

    public RawTftpClient() => _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));

    public IPEndPoint LocalEndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public Task SendAsync(byte[] packet, IPEndPoint to) =>
        _socket.SendToAsync(packet, SocketFlags.None, to, TestContext.Current.CancellationToken).AsTask();

    /// <summary>The next packet, or null if none arrives within <paramref name="timeout"/>.</summary>
    public async Task<TftpReply?> ReceiveAsync(TimeSpan timeout)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            var r = await _socket.ReceiveFromAsync(_buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), cts.Token);
            return new TftpReply((IPEndPoint)r.RemoteEndPoint, _buffer.AsSpan(0, r.ReceivedBytes).ToArray());
        }
        catch (OperationCanceledException) when (!TestContext.Current.CancellationToken.IsCancellationRequested)
        {
            return null;
        }
    }

    public async Task<TftpReply> ExpectAsync(TimeSpan? timeout = null) =>
        await ReceiveAsync(timeout ?? TimeSpan.FromSeconds(5)) ?? throw new TimeoutException("no reply from the TFTP server");

    public static byte[] ReadRequest(string file, string mode = "octet", params (string Name, string Value)[] options) =>
        Request(1, file, mode, options);

    public static byte[] WriteRequest(string file) => Request(2, file, "octet", []);

    public static byte[] Ack(ushort block)
    {
        var p = new byte[4];
        BinaryPrimitives.WriteUInt16BigEndian(p, 4);
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), block);
        return p;
    }

    private static byte[] Request(ushort opcode, string file, string mode, (string Name, string Value)[] options)
    {
        var bytes = new List<byte> { 0, (byte)opcode };
        foreach (var s in new[] { file, mode }.Concat(options.SelectMany(o => new[] { o.Name, o.Value })))
        {
            bytes.AddRange(Encoding.UTF8.GetBytes(s));
            bytes.Add(0);
        }
        return bytes.ToArray();
    }

    public void Dispose() => _socket.Dispose();
}

internal sealed record TftpReply(IPEndPoint From, byte[] Packet)
{
    public ushort Opcode => BinaryPrimitives.ReadUInt16BigEndian(Packet);
    public bool IsData => Opcode == 3;
    public bool IsError => Opcode == 5;
    public bool IsOptionAck => Opcode == 6;
    public ushort Block => IsData ? BinaryPrimitives.ReadUInt16BigEndian(Packet.AsSpan(2)) : throw new InvalidOperationException(Describe());
    public ReadOnlySpan<byte> Data => Packet.AsSpan(4);
    public ushort ErrorCode => IsError ? BinaryPrimitives.ReadUInt16BigEndian(Packet.AsSpan(2)) : throw new InvalidOperationException(Describe());
    public string ErrorMessage => Encoding.ASCII.GetString(Packet.AsSpan(4)).TrimEnd('\0');

    public IReadOnlyDictionary<string, string> Options
    {
        get
        {
            if (!IsOptionAck) throw new InvalidOperationException(Describe());
            var parts = Encoding.ASCII.GetString(Packet.AsSpan(2)).Split('\0');
            var d = new Dictionary<string, string>();
            for (int i = 0; i + 1 < parts.Length; i += 2) d[parts[i]] = parts[i + 1];
            return d;
        }
    }

    public string Describe() => Opcode switch
    {
        3 => $"DATA {BinaryPrimitives.ReadUInt16BigEndian(Packet.AsSpan(2))} ({Packet.Length - 4} bytes)",
        5 => $"ERROR {BinaryPrimitives.ReadUInt16BigEndian(Packet.AsSpan(2))} {ErrorMessage}",
        6 => "OACK",
        _ => $"opcode {Opcode}",
    };
}
