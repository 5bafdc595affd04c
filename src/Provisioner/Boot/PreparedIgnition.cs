using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Provisioner.Catalog;
using Provisioner.Cluster;
using Provisioner.Observability;
using Provisioner.Pki;
using Provisioner.Profiles;
using Provisioner.Rendering;

using Provisioner.Ignition;
using Provisioner.Primitives;

namespace Provisioner.Boot;

/// <summary>A machine's prepared config, or why none can be served now (503).</summary>
internal readonly record struct PreparedLookup(PreparedConfig? Config, string? Unavailable);

/// <summary>
/// Every machine's Ignition config, rendered when what it is made of changes — the catalog (profiles, templates),
/// the bootstrap tokens, the files in the cluster directory's <c>tls/</c> — instead of per request. A background
/// loop renders the cluster directory for a new catalog and then each machine's config for each base URL machines
/// use (the configured <c>provisionerUrl</c>, or each distinct address machines reached, up to
/// <see cref="MaxBaseUrls"/>); a change of tokens re-renders only the machines whose material changed.
/// <para>
/// Correctness does not depend on the loop being done: every change bumps a stamp at once (synchronously, in the
/// event that reports it), prepared configs carry the stamp they were made under, and a request that finds no
/// current config renders it as before (minting the machine's token where a first serve must). Tokens are still
/// minted only when a config is served: a machine without a usable token is not prepared, and a prepared config is
/// used only until its tokens would be re-minted by a serve (<see cref="PreparedConfig.ReusableUntil"/>).
/// </para>
/// </summary>
internal sealed class PreparedIgnition(CatalogStore catalog, ClusterAssetService cluster, IgnitionRenderer renderer, ProvisionerMetrics metrics,
    TimeProvider time, ILogger<PreparedIgnition> logger) : IHostedService, IDisposable
{
    /// <summary>Distinct base URLs configs are kept for when no provisionerUrl is set; beyond that each request renders.</summary>
    public const int MaxBaseUrls = 8;

    // Changes come in bursts (a render writes several tls/ files, a reload is followed by token mints): wait this
    // long after a change before preparing, so one pass covers the burst.
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(50);

    private sealed record Table(long Stamp, CatalogSnapshot? Snapshot, ConcurrentDictionary<(string Machine, string BaseUrl), PreparedConfig> Entries);

    private readonly SemaphoreSlim _wake = new(0);
    private readonly ConcurrentDictionary<string, byte> _baseUrls = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _stopping = new();
    private FileSystemWatcher? _tlsWatcher;
    private Task? _loop;
    private long _stamp;
    private volatile Table _table = new(-1, null, new());

    /// <summary>Whether prepared configs exist for the current catalog and nothing changed since they were made.</summary>
    public bool IsCurrent => _table is { } t && t.Stamp == Volatile.Read(ref _stamp) && ReferenceEquals(t.Snapshot, catalog.Current);

    /// <summary>Passes of the background loop that completed (for tests that wait for prepared configs).</summary>
    public int PreparedPasses => Volatile.Read(ref _passes);
    private int _passes;

    public Task StartAsync(CancellationToken cancellationToken)
    {
        catalog.Changed += _ => Invalidate();
        cluster.Tokens.Changed += Invalidate;
        var tls = Path.Combine(cluster.ClusterDirectory, ClusterAssetSet.TlsDir);
        if (Directory.Exists(tls))
        {
            // An operator replacing or deleting a key must not be hidden by a prepared config: forget what was read
            // from tls/ and prepare again (which, for a broken directory, leaves requests to answer 503).
            _tlsWatcher = new FileSystemWatcher(tls) { IncludeSubdirectories = true, NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size };
            FileSystemEventHandler changed = (_, _) => { cluster.ForgetAssets(); Invalidate(); };
            _tlsWatcher.Changed += changed;
            _tlsWatcher.Created += changed;
            _tlsWatcher.Deleted += changed;
            _tlsWatcher.Renamed += (_, _) => { cluster.ForgetAssets(); Invalidate(); };
            _tlsWatcher.EnableRaisingEvents = true;
        }
        _loop = Task.Run(() => RunAsync(_stopping.Token), CancellationToken.None);
        Invalidate();
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) == 0) await _stopping.CancelAsync();
        if (_loop is { } loop) await loop.WaitAsync(cancellationToken).ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
    }

    // Disposed twice by the container (as the singleton and as the hosted service it also is).
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        _tlsWatcher?.Dispose();
        _stopping.Cancel();
        _stopping.Dispose();
    }

    private int _disposed;

    /// <summary>Something configs are made of changed: stop using prepared configs now, prepare them again soon.</summary>
    private void Invalidate()
    {
        Interlocked.Increment(ref _stamp);
        _wake.Release();
    }

    /// <summary>The config to serve <paramref name="machine"/> reaching us at <paramref name="baseUrl"/>.</summary>
    public async Task<PreparedLookup> GetAsync(CatalogSnapshot snapshot, MachineSpec machine, string baseUrl, CancellationToken ct)
    {
        var table = _table;
        var stamp = Volatile.Read(ref _stamp);
        var key = (machine.Name, baseUrl);
        if (table.Stamp == stamp && ReferenceEquals(table.Snapshot, snapshot) && table.Entries.TryGetValue(key, out var ready)
            && time.GetUtcNow() < ready.ReusableUntil)
            return new PreparedLookup(ready, null);

        var keep = KeepBaseUrl(snapshot, baseUrl);
        PreparedMaterial? material = null;
        try { material = await cluster.MaterialWithoutMintingAsync(snapshot, machine, ct); }
        catch (Exception e) when (IsClusterDirectoryProblem(e))
        {
            // TryMaterialForServingAsync below meets the same problem, logs it and says 503.
        }
        if (material is not null)
        {
            var config = new PreparedConfig(Render(snapshot, machine, baseUrl, material.Material, "request"), PreparedConfig.Fingerprint(material.Material), material.ReusableUntil);
            // Kept only when nothing changed meanwhile: a table made under an older stamp or catalog is never served.
            if (keep && table.Stamp == stamp && ReferenceEquals(table.Snapshot, snapshot) && Volatile.Read(ref _stamp) == stamp
                && ReferenceEquals(_table, table))
                table.Entries.TryAdd(key, config);
            return new PreparedLookup(config, null);
        }

        // The first serve of this machine (or the bootstrap machine while some machine has no usable token): mint,
        // as always. The token store reports the mint, and the loop prepares the config with the new token.
        var (minted, unavailable) = await cluster.TryMaterialForServingAsync(snapshot, machine, ct);
        if (minted is null) return new PreparedLookup(null, unavailable);
        return new PreparedLookup(new PreparedConfig(Render(snapshot, machine, baseUrl, minted, "request"), PreparedConfig.Fingerprint(minted), DateTimeOffset.MinValue), null);
    }

    /// <summary>Whether configs for <paramref name="baseUrl"/> are kept (and prepared on changes); a new one wakes the loop.</summary>
    private bool KeepBaseUrl(CatalogSnapshot snapshot, string baseUrl)
    {
        if (snapshot.Profiles.Cluster.ProvisionerUrl is not null) return true; // the only base URL there is
        if (_baseUrls.ContainsKey(baseUrl)) return true;
        if (_baseUrls.Count >= MaxBaseUrls) return false;
        if (_baseUrls.TryAdd(baseUrl, 0)) _wake.Release();
        return true;
    }

    private IEnumerable<string> BaseUrlsFor(CatalogSnapshot snapshot) =>
        snapshot.Profiles.Cluster.ProvisionerUrl is { } configured ? [configured.GetLeftPart(UriPartial.Authority)] : _baseUrls.Keys;

    private IgnitionConfig Render(CatalogSnapshot snapshot, MachineSpec machine, string baseUrl, MachineMaterial material, string trigger)
    {
        metrics.IgnitionRenders.WithLabels(trigger).Inc();
        return renderer.Render(snapshot.Templates, snapshot.Profiles, machine, new Uri(baseUrl + "/"), material);
    }

    private static bool IsClusterDirectoryProblem(Exception e) =>
        e is ClusterRenderException or PkiException or IOException or UnauthorizedAccessException or InvalidDataException;

    private async Task RunAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(stopping);
                await Task.Delay(Settle, time, stopping);
                while (_wake.CurrentCount > 0) await _wake.WaitAsync(stopping); // one pass for everything that came meanwhile
                await PrepareAsync(stopping);
            }
            catch (OperationCanceledException) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                // Requests render for themselves until the next change (a template that fails for real tokens, say).
                logger.LogError(e, "Preparing Ignition configs failed; requests render their configs until the next change");
            }
            finally
            {
                Interlocked.Increment(ref _passes);
            }
        }
    }

    private async Task PrepareAsync(CancellationToken ct)
    {
        var stamp = Volatile.Read(ref _stamp); // read before the inputs: a change after this makes the table stale
        var snapshot = catalog.Current;
        var previous = _table;
        var started = time.GetTimestamp();
        int rendered = 0, kept = 0, waiting = 0;
        var entries = new ConcurrentDictionary<(string Machine, string BaseUrl), PreparedConfig>();
        var baseUrls = BaseUrlsFor(snapshot).ToList();
        try
        {
            await cluster.EnsureRenderedAsync(snapshot, ct);
            foreach (var machine in snapshot.Profiles.Machines)
            {
                if (await cluster.MaterialWithoutMintingAsync(snapshot, machine, ct) is not { } material)
                {
                    waiting++; // its first serve mints its token
                    continue;
                }
                var fingerprint = PreparedConfig.Fingerprint(material.Material);
                foreach (var baseUrl in baseUrls)
                {
                    var key = (machine.Name, baseUrl);
                    if (ReferenceEquals(previous.Snapshot, snapshot) && previous.Entries.TryGetValue(key, out var old) && old.MaterialFingerprint == fingerprint)
                    {
                        entries[key] = old.WithReusableUntil(material.ReusableUntil);
                        kept++;
                        continue;
                    }
                    var config = new PreparedConfig(Render(snapshot, machine, baseUrl, material.Material, "change"), fingerprint, material.ReusableUntil);
                    config.Body(IgnitionSpec.Default); // what Ignition asks for unless it names another version
                    entries[key] = config;
                    rendered++;
                }
            }
        }
        catch (Exception e) when (IsClusterDirectoryProblem(e))
        {
            // Requests meet the same problem and answer 503 with a reason (and log it); nothing stale is served.
            logger.LogWarning(e, "Ignition configs not prepared: the cluster directory {Directory} cannot be used", cluster.ClusterDirectory);
            _table = new Table(stamp, snapshot, new());
            return;
        }
        _table = new Table(stamp, snapshot, entries);
        logger.LogDebug("Ignition configs prepared for {BaseUrls} base URL(s): {Rendered} rendered, {Kept} unchanged, {Waiting} machine(s) waiting for their first serve, in {ElapsedMs:0} ms",
            baseUrls.Count, rendered, kept, waiting, time.GetElapsedTime(started).TotalMilliseconds);
    }
}
