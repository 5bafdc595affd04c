using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Provisioner.Catalog;

namespace Provisioner.Release;

/// <summary>
/// Under <c>serve</c>: mirrors the current release's boot artifacts in the background, again whenever the profiles
/// change, and retries failures every <see cref="RetryInterval"/>. Machines that need a missing artifact get a retry
/// script meanwhile, so nothing waits on this.
/// </summary>
internal sealed class ReleaseSyncService(CatalogStore catalog, ContentStore store, ILogger<ReleaseSyncService> logger, TimeProvider time) : BackgroundService
{
    public static readonly TimeSpan RetryInterval = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan PollInterval = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var stale = store.RemoveStaleTemporaries(TimeSpan.FromHours(24), time);
        if (stale > 0) logger.LogInformation("Removed {Count} stale temporary entries from {Directory}", stale, store.TempDirectory);
        using var http = ReleaseHttp.CreateClient();
        var sync = new ArtifactSync(store, http, new SyncOptions(), logger, new LogProgress(logger, time));
        CatalogSnapshot? synced = null;
        var lastAttempt = long.MinValue;
        var failed = false;
        while (!stoppingToken.IsCancellationRequested)
        {
            var current = catalog.Current;
            var due = !ReferenceEquals(current, synced) || (failed && time.GetElapsedTime(lastAttempt) >= RetryInterval);
            if (due && current.Profiles.Release is { } release)
            {
                lastAttempt = time.GetTimestamp();
                try
                {
                    var missing = release.Artifacts.Where(a => !store.Contains(a.Sha256)).ToList();
                    if (missing.Count > 0)
                    {
                        logger.LogInformation("Release {Version}: mirroring {Count} missing boot artifact(s) into {Store}", release.KubernetesVersion, missing.Count, store.Root);
                        var results = await sync.SyncAsync(missing, stoppingToken);
                        failed = results.Any(r => r.Outcome == SyncOutcome.Failed);
                    }
                    else failed = false;
                }
                catch (Exception e) when (e is not OperationCanceledException || !stoppingToken.IsCancellationRequested)
                {
                    // An exception escaping a BackgroundService stops the host; mirroring must never take serving down.
                    logger.LogError(e, "Release sync failed; retrying in {Interval}", RetryInterval);
                    failed = true;
                }
            }
            synced = current;
            try { await Task.Delay(PollInterval, time, stoppingToken); }
            catch (OperationCanceledException) { return; }
        }
    }
}
