using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Provisioner.Profiles;
using Provisioner.Rendering;

namespace Provisioner.Catalog;

/// <summary>
/// Holds the current <see cref="CatalogSnapshot"/> and reloads it when files change. Changes are
/// debounced (editors write in several steps) and an invalid tree is logged and ignored: the server keeps
/// serving the last good snapshot until the operator fixes the files.
/// </summary>
internal sealed class CatalogStore : IHostedService, IDisposable
{
    private readonly ProfileSources _sources;
    private readonly IgnitionRenderer _renderer;
    private readonly TimeProvider _time;
    private readonly ILogger<CatalogStore> _logger;
    private readonly TimeSpan _debounce;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly SemaphoreSlim _reloadLock = new(1, 1);
    private ITimer? _timer;
    private volatile CatalogSnapshot _current;

    public CatalogStore(CatalogSnapshot initial, ProfileSources sources, IgnitionRenderer renderer, TimeProvider time,
        ILogger<CatalogStore> logger, TimeSpan? debounce = null)
    {
        _current = initial;
        _sources = sources;
        _renderer = renderer;
        _time = time;
        _logger = logger;
        _debounce = debounce ?? TimeSpan.FromMilliseconds(400);
    }

    public CatalogSnapshot Current => _current;

    /// <summary>
    /// Raised after a reload took a new snapshot (not for a rejected one), so what is derived from the catalog —
    /// the cluster directory, prepared Ignition configs — is rebuilt once per change instead of per request.
    /// Handlers run on the reloading thread: they should only schedule work.
    /// </summary>
    public event Action<CatalogSnapshot>? Changed;

    /// <summary>Problems of the last reload attempt, empty when it succeeded.</summary>
    public IReadOnlyList<ProfileDiagnostic> LastReloadProblems { get; private set; } = [];

    public int ReloadCount { get; private set; }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        _timer = _time.CreateTimer(_ => _ = ReloadAsync(CancellationToken.None), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        foreach (var dir in new[] { _sources.ProfilesDirectory, _sources.TemplatesDirectory }.Where(Directory.Exists).Distinct())
        {
            var watcher = new FileSystemWatcher(dir) { IncludeSubdirectories = true, NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size };
            watcher.Changed += OnChange;
            watcher.Created += OnChange;
            watcher.Deleted += OnChange;
            watcher.Renamed += OnChange;
            watcher.EnableRaisingEvents = true;
            _watchers.Add(watcher);
        }
        return Task.CompletedTask;
    }

    private void OnChange(object sender, FileSystemEventArgs e) => _timer?.Change(_debounce, Timeout.InfiniteTimeSpan);

    /// <summary>Reloads now; returns true when a new snapshot was taken.</summary>
    public async Task<bool> ReloadAsync(CancellationToken cancellationToken)
    {
        await _reloadLock.WaitAsync(cancellationToken);
        try
        {
            var started = _time.GetTimestamp();
            var (snapshot, problems) = CatalogLoader.TryLoad(_sources, _renderer, _time);
            ReloadCount++;
            LastReloadProblems = problems;
            if (snapshot is null)
            {
                _logger.LogWarning("Profile reload rejected, still serving the snapshot loaded at {LoadedAt}: {ProblemCount} problem(s){Problems}",
                    _current.LoadedAt, problems.Count, string.Concat(problems.Select(p => Environment.NewLine + "  " + p)));
                return false;
            }
            _current = snapshot;
            Changed?.Invoke(snapshot);
            _logger.LogInformation("Profiles reloaded: {Machines} machines, {Roles} roles, {Templates} templates in {ElapsedMs:0.0} ms",
                snapshot.Profiles.Machines.Length, snapshot.Profiles.Roles.Count, snapshot.Templates.Templates.Count,
                _time.GetElapsedTime(started).TotalMilliseconds);
            return true;
        }
        finally
        {
            _reloadLock.Release();
        }
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        foreach (var w in _watchers) w.Dispose();
        _watchers.Clear();
        _timer?.Dispose();
    }
}
