using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Provisioner.Pxe.Tftp;

/// <summary>
/// Runs <see cref="TftpServer"/> inside the generic host. An <see cref="IHostedService"/> rather than a
/// BackgroundService so that a failure to bind (port 69 taken, no privilege) fails host start-up loudly.
/// </summary>
public sealed class TftpHostedService(TftpOptions options, ILogger<TftpServer> logger) : IHostedService, IAsyncDisposable
{
    private readonly TftpServer _server = new(options, logger);

    public Task StartAsync(CancellationToken cancellationToken) => _server.StartAsync(cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => _server.StopAsync(cancellationToken);

    public ValueTask DisposeAsync() => _server.DisposeAsync();
}
