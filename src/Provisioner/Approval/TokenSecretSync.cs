using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Provisioner.Tokens;

namespace Provisioner.Approval;

/// <summary>
/// Keeps the cluster's <c>bootstrap-token-&lt;id&gt;</c> Secrets equal to the token store: every unexpired
/// token Provisioner issued has its Secret (so the machine can authenticate when it joins), and Secrets
/// of revoked or expired tokens (labelled <see cref="BootstrapToken.MachineLabel"/>) are deleted.
/// Runs on start, whenever the store changes, and on every resync.
/// </summary>
internal sealed class TokenSecretSync(
    IKubernetes client,
    BootstrapTokenStore tokens,
    ApproverOptions options,
    TimeProvider time,
    ILogger logger)
{
    private const string Namespace = "kube-system";
    private static readonly TimeSpan ChangeDebounce = TimeSpan.FromMilliseconds(250);
    private readonly SemaphoreSlim _changed = new(0, 1);

    public async Task RunAsync(CancellationToken ct)
    {
        void OnChanged()
        {
            if (_changed.CurrentCount == 0)
            {
                try { _changed.Release(); }
                catch (SemaphoreFullException) { }
            }
        }
        tokens.Changed += OnChanged;
        using var watcher = WatchTokenFile(ct);
        var backoff = Backoff.For(options);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                TimeSpan wait;
                try
                {
                    await SyncAsync(ct);
                    backoff.Reset();
                    wait = options.ResyncInterval;
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    wait = backoff.Next(e);
                    logger.LogWarning(e, "Syncing bootstrap token Secrets failed; retrying in {Delay}", wait);
                }
                // A burst of changes (a thousand machines fetching their Ignition, or being approved) is one sync.
                if (await _changed.WaitAsync(wait, ct))
                    await Task.Delay(ChangeDebounce, time, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        finally { tokens.Changed -= OnChanged; }
    }

    /// <summary>
    /// Tokens minted by another process on the same cluster directory (<c>provisioner render</c>) get their
    /// Secrets as soon as the file changes, not at the next resync; the resync still catches a missed event.
    /// </summary>
    private FileSystemWatcher? WatchTokenFile(CancellationToken ct)
    {
        var directory = Path.GetDirectoryName(tokens.FilePath)!;
        if (!Directory.Exists(directory)) return null;
        var watcher = new FileSystemWatcher(directory, Path.GetFileName(tokens.FilePath))
        {
            NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite,
        };
        async Task RefreshAsync()
        {
            try { await tokens.RefreshAsync(ct); }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
            catch (Exception e)
            {
                logger.LogWarning(e, "Re-reading the bootstrap token file {File} failed; the next resync retries", tokens.FilePath);
            }
        }
        // Writes are atomic renames into place; an editor may also write in place.
        watcher.Created += (_, _) => _ = RefreshAsync();
        watcher.Changed += (_, _) => _ = RefreshAsync();
        watcher.Renamed += (_, _) => _ = RefreshAsync();
        watcher.EnableRaisingEvents = true;
        return watcher;
    }

    public async Task SyncAsync(CancellationToken ct)
    {
        foreach (var expired in await tokens.PruneExpiredAsync(ct))
            logger.LogInformation("Bootstrap token {TokenId} of machine {Machine} expired; pruned", expired.Id, expired.MachineName);

        var now = time.GetUtcNow();
        var wanted = tokens.All.Where(t => !t.IsExpiredAt(now)).ToDictionary(t => t.SecretName, StringComparer.Ordinal);
        var existing = await client.CoreV1.ListNamespacedSecretAsync(Namespace, labelSelector: BootstrapToken.MachineLabel, cancellationToken: ct);
        var present = existing.Items.Select(s => s.Metadata.Name).ToHashSet(StringComparer.Ordinal);

        foreach (var (name, token) in wanted)
        {
            if (present.Contains(name)) continue;
            try
            {
                await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
                {
                    Metadata = new V1ObjectMeta
                    {
                        Name = name,
                        NamespaceProperty = Namespace,
                        Labels = new Dictionary<string, string> { [BootstrapToken.MachineLabel] = token.MachineName },
                    },
                    Type = BootstrapToken.SecretType,
                    StringData = token.SecretData().ToDictionary(),
                }, Namespace, cancellationToken: ct);
                logger.LogInformation("Created Secret {Secret} for the bootstrap token of machine {Machine}", name, token.MachineName);
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                // Another replica (or a previous term) created it first: the goal is reached either way.
            }
        }

        foreach (var stale in existing.Items.Where(s => s.Metadata.Name.StartsWith(BootstrapToken.SecretPrefix, StringComparison.Ordinal)
                                                       && !wanted.ContainsKey(s.Metadata.Name)))
        {
            try { await client.CoreV1.DeleteNamespacedSecretAsync(stale.Metadata.Name, Namespace, cancellationToken: ct); }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound) { }
            logger.LogInformation("Deleted Secret {Secret}: its bootstrap token was revoked or expired", stale.Metadata.Name);
        }
    }
}
