using System.Net.Sockets;
using System.Text;

namespace Provisioner.Tests.Assets;

/// <summary>
/// Sends a request target byte-for-byte over TCP, so no client library gets to normalise
/// <c>..</c> or percent-encoding before the server sees it.
/// </summary>
internal static class RawHttp
{
    public sealed record Response(int Status, string Head, byte[] Body)
    {
        public string BodyText => Encoding.UTF8.GetString(Body);
    }

    public static async Task<Response> GetAsync(Uri server, string requestTarget, CancellationToken cancellationToken)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(server.Host, server.Port, cancellationToken);
        await using var stream = tcp.GetStream();
        var request = $"GET {requestTarget} HTTP/1.1\r\nHost: {server.Authority}\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.Latin1.GetBytes(request), cancellationToken);

        using var all = new MemoryStream();
        await stream.CopyToAsync(all, cancellationToken);
        var bytes = all.ToArray();
        var split = bytes.AsSpan().IndexOf("\r\n\r\n"u8);
        if (split < 0) throw new InvalidOperationException("incomplete HTTP response: " + Encoding.Latin1.GetString(bytes));
        var head = Encoding.Latin1.GetString(bytes, 0, split);
        var status = int.Parse(head.Split(' ')[1]);
        return new Response(status, head, bytes[(split + 4)..]);
    }
}
