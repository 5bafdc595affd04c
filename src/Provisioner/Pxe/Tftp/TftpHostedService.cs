using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Provisioner.Pxe.Tftp;

/// <summary>
/// Runs <see cref="TftpServer"/> inside the generic host. An <see cref="IHostedService"/> rather than a
/// BackgroundService so that a failure to bind (port 69 taken, no privilege) fails host start-up loudly.
/// </summary>
internal sealed class TftpHostedService(TftpOptions options, ILogger<TftpServer> logger) : IHostedService, IAsyncDisposable
{
    private readonly TftpServer _server = new(options, logger);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            await _server.StartAsync(cancellationToken);
        }
        catch (SocketException e)
        {
            // An IOException is what `serve` reports as one line; say which setting and what usually causes it.
            var hint = e.SocketErrorCode switch
            {
                SocketError.AddressAlreadyInUse => " (another TFTP server is running?)",
                SocketError.AccessDenied => " (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
                SocketError.AddressNotAvailable => " (not an address of this host)",
                _ => "",
            };
            throw new IOException($"--tftp: cannot listen on {options.Listen}: {e.Message}{hint}", e);
        }
    }

    public Task StopAsync(CancellationToken cancellationToken) => _server.StopAsync(cancellationToken);

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
