using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Provisioner.Catalog;
using Provisioner.Inventory;
using Provisioner.Observability;
using Provisioner.Pki;
using Provisioner.Profiles;
using Provisioner.Rendering;
using Provisioner.Tokens;

using Provisioner.Cluster;
using Provisioner.Primitives;

namespace Provisioner.Catalog;

/// <summary>
/// The running server's view of the cluster directory. On start it renders whatever is missing (the same code
/// as <c>provisioner render</c>, so an existing directory is left as it is); after a profile reload it renders
/// again before serving. For each Ignition request it hands out the machine's material, minting the machine's
/// bootstrap token on first use.
/// </summary>
internal sealed class ClusterAssetService(ClusterDirectoryPath clusterDirectory, ClusterRenderOptions options, CatalogStore catalog, IgnitionRenderer renderer,
    MachineStateStore machineState, ProvisionerMetrics metrics, TimeProvider time, ILogger<ClusterAssetService> logger) : IHostedService
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private BootstrapTokenStore? _tokens;
    private ProfileSet? _renderedFor;
    private int _tokenVersion;
    // The assets derived from tls/ and the tokens; rebuilt only when the profiles or the tokens change, so a
    // boot storm of workers does not re-read and re-serialize the whole directory per request.
    private volatile CachedAssets? _cache;

    private sealed record CachedAssets(ProfileSet Profiles, int TokenVersion, ClusterAssetSet Assets);

    public string ClusterDirectory { get; } = clusterDirectory.FullPath;

    /// <summary>The per-machine bootstrap tokens (available once the service has started).</summary>
    public BootstrapTokenStore Tokens => _tokens ?? throw new InvalidOperationException("the cluster asset service has not started");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        _tokens = await BootstrapTokenStore.OpenAsync(ClusterRenderer.TokenFile(ClusterDirectory), time, options.TokenLifetime, cancellationToken);
        _tokens.Changed += () => Interlocked.Increment(ref _tokenVersion);
        await EnsureRenderedAsync(catalog.Current, cancellationToken);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// <see cref="MaterialForServingAsync"/>, or a reason for the machine when the cluster directory cannot be used
    /// (an operator deleted a CA key, a file is unreadable): Ignition retries, the details go to the log.
    /// </summary>
    public async Task<(MachineMaterial? Material, string? Problem)> TryMaterialForServingAsync(CatalogSnapshot snapshot, MachineSpec machine, CancellationToken ct)
    {
        try
        {
            return (await MaterialForServingAsync(snapshot, machine, ct), null);
        }
        catch (Exception e) when (e is ClusterRenderException or PkiException or IOException or UnauthorizedAccessException or InvalidDataException)
        {
            logger.LogError(e, "Cannot serve cluster assets to {Machine}: {Problem}", machine.Name, e.Message);
            return (null, $"the cluster assets for {machine.Name} are unavailable: the cluster directory is incomplete or invalid (details in the server log; `provisioner render` shows them too)");
        }
    }

    /// <summary>The machine's material for a served config; mints its token (and, for the bootstrap machine, every joining machine's).</summary>
    public async Task<MachineMaterial> MaterialForServingAsync(CatalogSnapshot snapshot, MachineSpec machine, CancellationToken ct)
    {
        await EnsureRenderedAsync(snapshot, ct);
        var topology = ClusterTopology.For(snapshot.Profiles, options.Pki);
        // The bootstrap machine applies manifests/: mint first so every machine's Secret is in there (not for machines
        // that joined already: their tokens were revoked for good reason).
        var mintFor = topology.KindOf(machine) == MachineKind.Bootstrap
            ? snapshot.Profiles.Machines.Where(m => topology.JoinsWithToken(m) && machineState.Get(m.Name)?.JoinedAt is null)
            : [machine];
        var before = Tokens.FindForMachine(machine.Name);
        var minted = await Tokens.GetOrMintAsync(mintFor.Where(topology.JoinsWithToken).Select(m => m.Name), ct);
        var token = minted.GetValueOrDefault(machine.Name);
        if (token is not null && token.Id != before?.Id && machineState.Get(machine.Name)?.JoinedAt is { } joined)
        {
            // A joined machine asking again is a reinstall, or someone with its MAC: either way an operator should know.
            metrics.TokensReissuedAfterJoin.WithLabels(machine.Name).Inc();
            logger.LogWarning("Machine {Machine} fetched its config again after its node joined at {Joined:O}; a new bootstrap token {TokenId} was minted for it",
                machine.Name, joined, token.Id);
        }
        return MachineMaterial.For(await AssetsAsync(snapshot.Profiles, topology, ct), machine, token);
    }

    /// <summary>
    /// The material <see cref="MaterialForServingAsync"/> would return for <paramref name="machine"/> right now, but only
    /// when serving it would mint nothing (every token it would mint already exists and is usable), with the time until
    /// which that stays so; null when the next serve must mint (a token is missing or has less than a quarter of its
    /// lifetime left). Reads the tokens this process knows, never the token file: it is for preparing configs ahead of
    /// requests, and a token another process wrote reaches this store as a <see cref="BootstrapTokenStore.Changed"/>.
    /// </summary>
    internal async Task<PreparedMaterial?> MaterialWithoutMintingAsync(CatalogSnapshot snapshot, MachineSpec machine, CancellationToken ct)
    {
        await EnsureRenderedAsync(snapshot, ct);
        var topology = ClusterTopology.For(snapshot.Profiles, options.Pki);
        // The same set MaterialForServingAsync passes to GetOrMintAsync.
        var mintFor = topology.KindOf(machine) == MachineKind.Bootstrap
            ? snapshot.Profiles.Machines.Where(m => topology.JoinsWithToken(m) && machineState.Get(m.Name)?.JoinedAt is null)
            : [machine];
        var until = DateTimeOffset.MaxValue;
        BootstrapToken? token = null;
        foreach (var m in mintFor.Where(topology.JoinsWithToken))
        {
            // GetOrMintAsync keeps the newest unexpired token while more than a quarter of its lifetime is left.
            if (Tokens.FindForMachine(m.Name) is not { } existing) return null;
            var usableUntil = existing.Expires - Tokens.Lifetime / 4;
            if (usableUntil <= time.GetUtcNow()) return null;
            if (usableUntil < until) until = usableUntil;
            if (m.Name == machine.Name) token = existing;
        }
        return new PreparedMaterial(MachineMaterial.For(await AssetsAsync(snapshot.Profiles, topology, ct), machine, token), until);
    }

    /// <summary>
    /// Forgets the assets read from tls/ (a file there changed: an operator replaced or deleted a key), so the next
    /// use reads the directory again and a broken directory is a 503, not a config built from what it used to hold.
    /// </summary>
    internal void ForgetAssets() => _cache = null;

    private async Task<ClusterAssetSet> AssetsAsync(ProfileSet profiles, ClusterTopology topology, CancellationToken ct)
    {
        var version = Volatile.Read(ref _tokenVersion);
        if (_cache is { } cached && ReferenceEquals(cached.Profiles, profiles) && cached.TokenVersion == version) return cached.Assets;
        var plan = ClusterPkiPlan.For(profiles, options.Pki);
        var tls = await TlsMaterial.ReadAsync(plan, Path.Combine(ClusterDirectory, ClusterAssetSet.TlsDir), ct);
        var assets = ClusterAssetSet.Build(topology, tls, Tokens.All);
        _cache = new CachedAssets(profiles, version, assets);
        return assets;
    }

    /// <summary>Renders the cluster directory for <paramref name="snapshot"/> unless that was done already (once per catalog).</summary>
    internal async Task EnsureRenderedAsync(CatalogSnapshot snapshot, CancellationToken ct)
    {
        if (ReferenceEquals(_renderedFor, snapshot.Profiles)) return;
        await _gate.WaitAsync(ct);
        try
        {
            if (ReferenceEquals(_renderedFor, snapshot.Profiles)) return;
            var started = time.GetTimestamp();
            var result = await ClusterRenderer.RenderAsync(snapshot.Profiles, snapshot.Templates, renderer, ClusterDirectory, Tokens,
                snapshot.Profiles.Cluster.ProvisionerUrl ?? CatalogLoader.PlaceholderBaseUrl, options, ct, machineState.JoinedMachines());
            _renderedFor = snapshot.Profiles;
            _cache = null; // tls/ may have changed (a new machine's etcd pair, a re-issued apiserver cert)
            logger.LogInformation("Cluster directory {Directory}: {Written} file(s) written, {Created} key pair(s) created, {Reissued} re-issued in {ElapsedMs:0} ms",
                ClusterDirectory, result.Written.Length, result.Pki.Created.Count(), result.Pki.Reissued.Count(), time.GetElapsedTime(started).TotalMilliseconds);
        }
        finally
        {
            _gate.Release();
        }
    }
}

/// <summary>A machine's material for a prepared config, and until when serving it would mint no token.</summary>
internal sealed record PreparedMaterial(MachineMaterial Material, DateTimeOffset ReusableUntil);

internal static class ClusterServiceCollectionExtensions
{
    /// <summary>Registers the cluster directory for <c>serve</c>: rendered on start, material per Ignition request, the token store.</summary>
    public static IServiceCollection AddClusterAssets(this IServiceCollection services, ClusterRenderOptions? options = null)
    {
        services.AddSingleton(options ?? new ClusterRenderOptions());
        services.AddSingleton<ClusterAssetService>();
        services.AddHostedService(sp => sp.GetRequiredService<ClusterAssetService>());
        services.AddSingleton(sp => sp.GetRequiredService<ClusterAssetService>().Tokens);
        return services;
    }
}
