using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Logging;
using Provisioner.Pxe.Tftp;

namespace Provisioner.Tests.Pxe.Tftp;

/// <summary>A real <see cref="TftpServer"/> on 127.0.0.1 (ephemeral port) serving a fresh temporary root.</summary>
internal sealed class TftpTestServer : IAsyncDisposable
{
    private readonly TftpServer _server;

    public string Root { get; }
    public RecordingLogger<TftpServer> Log { get; } = new();
    public IPEndPoint EndPoint => _server.LocalEndPoint;
    public int Port => EndPoint.Port;
    public int ActiveSessions => _server.ActiveSessions;

    private TftpTestServer(string root, Func<TftpOptions, TftpOptions> configure)
    {
        Root = root;
        var options = configure(new TftpOptions(new IPEndPoint(IPAddress.Loopback, 0), [root]));
        _server = new TftpServer(options, Log);
    }

    public static async Task<TftpTestServer> StartAsync(Func<TftpOptions, TftpOptions>? configure = null)
    {
        var root = Directory.CreateTempSubdirectory("tftp-root-").FullName;
        var server = new TftpTestServer(root, configure ?? (o => o));
        await server._server.StartAsync(TestContext.Current.CancellationToken);
        return server;
    }

    /// <summary>Writes a file of deterministic pseudo-random bytes into the root and returns its content.</summary>
    public byte[] AddFile(string relativePath, int size, int seed = 1)
    {
        var content = new byte[size];
        new Random(seed).NextBytes(content);
        var path = Path.Combine(Root, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllBytes(path, content);
        return content;
    }

    /// <summary>Waits until no transfer is running (the client may finish before the server has seen its last ACK).</summary>
    public Task WaitForIdleAsync(TimeSpan? timeout = null) =>
        Eventually.That(() => Task.FromResult(ActiveSessions == 0), () => $"no TFTP session to be active ({ActiveSessions} still are)", timeout ?? TimeSpan.FromSeconds(10));

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        Directory.Delete(Root, recursive: true);
    }
}

/// <summary>Keeps formatted log lines so tests can assert on what the server reported.</summary>
internal sealed class RecordingLogger<T> : ILogger<T>
{
    public ConcurrentQueue<string> Lines { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
        Func<TState, Exception?, string> formatter) => Lines.Enqueue(formatter(state, exception));
}
