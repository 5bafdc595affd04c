using System.Collections.Concurrent;
using System.Text.Json;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Provisioner.Approval;
using Provisioner.Catalog;
using Provisioner.Inventory;
using Provisioner.Pki;
using Provisioner.Release;

namespace Provisioner.WebConsole;

/// <summary>Builds the console's snapshot from the live services, serialized for the wire.</summary>
internal sealed class ConsoleSnapshots(
    CatalogStore catalog, MachineRegistry registry, MachineStateStore machineState, ApproverStatus approver,
    ContentStore store, ImageRepositories repositories, ConsoleOptions options, TimeProvider time)
{
    private static readonly string BootstrapRole = new PkiOptions().BootstrapRole;

    public async Task<ConsoleSnapshot> BuildAsync(CancellationToken cancellationToken)
    {
        var release = JsonSerializer.SerializeToElement(await ReleaseEndpoints.StatusAsync(catalog, store, repositories, cancellationToken), Board.Json);
        return Board.Build(catalog.Current.Profiles, registry, machineState, approver.View(), release, options, BootstrapRole, time.GetUtcNow());
    }

    public static string Serialize(ConsoleSnapshot snapshot) => JsonSerializer.Serialize(snapshot, Board.Json);
}

/// <summary>
/// The change feed behind <c>GET /api/v1/events</c>: one loop builds a snapshot when something changed (machine
/// registry, machine state, approver: notified; release store and profiles: compared every
/// <see cref="ConsoleOptions.CheckInterval"/>), at most once per <see cref="ConsoleOptions.Debounce"/>, and offers it
/// to every subscriber. Each subscriber has a one-slot channel that keeps only the newest snapshot, so a client that
/// reads slowly (or not at all) skips intermediate snapshots and never holds the loop or the other clients back.
/// With no subscriber the loop builds nothing.
/// </summary>
internal sealed class ConsoleEvents : BackgroundService
{
    private readonly ConsoleSnapshots _snapshots;
    private readonly ConsoleOptions _options;
    private readonly MachineRegistry _registry;
    private readonly MachineStateStore _machineState;
    private readonly ApproverStatus _approver;
    private readonly TimeProvider _time;
    private readonly ILogger<ConsoleEvents> _logger;
    private readonly ConcurrentDictionary<Subscription, byte> _subscribers = new();
    // One pending "something changed" flag: a thousand notifications before the loop wakes are one rebuild.
    private readonly Channel<bool> _changed = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });
    private string? _lastSent;

    public ConsoleEvents(ConsoleSnapshots snapshots, ConsoleOptions options, MachineRegistry registry, MachineStateStore machineState,
        ApproverStatus approver, TimeProvider time, ILogger<ConsoleEvents> logger)
    {
        (_snapshots, _options, _registry, _machineState, _approver, _time, _logger) = (snapshots, options, registry, machineState, approver, time, logger);
    }

    /// <summary>Connected clients; a closed tab leaves this count.</summary>
    public int SubscriberCount => _subscribers.Count;

    /// <summary>Snapshots built and offered since the start (for tests and the curious).</summary>
    public long Broadcasts => Interlocked.Read(ref _broadcasts);
    private long _broadcasts;

    public Subscription Subscribe()
    {
        var subscription = new Subscription(this);
        _subscribers[subscription] = 0;
        return subscription;
    }

    private void OnChanged() => _changed.Writer.TryWrite(true);
    private void OnMachineStateChanged(IReadOnlyCollection<string> _) => OnChanged();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        _registry.Changed += OnChanged;
        _machineState.Changed += OnMachineStateChanged;
        _approver.Changed += OnChanged;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                await WaitForChangeAsync(stoppingToken);
                if (_subscribers.IsEmpty)
                {
                    // Nobody to tell; the next subscriber gets a fresh snapshot when it connects.
                    _lastSent = null;
                    continue;
                }
                try
                {
                    var snapshot = await _snapshots.BuildAsync(stoppingToken);
                    // Compared without the build time, which differs every time and says nothing.
                    var content = ConsoleSnapshots.Serialize(snapshot with { GeneratedAt = default });
                    if (content != _lastSent)
                    {
                        _lastSent = content;
                        var wire = ConsoleSnapshots.Serialize(snapshot);
                        foreach (var s in _subscribers.Keys) s.Offer(wire);
                        Interlocked.Increment(ref _broadcasts);
                    }
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _logger.LogWarning(e, "Console snapshot failed; retrying on the next change");
                }
                await Task.Delay(_options.Debounce, _time, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        finally
        {
            _registry.Changed -= OnChanged;
            _machineState.Changed -= OnMachineStateChanged;
            _approver.Changed -= OnChanged;
        }
    }

    private async Task WaitForChangeAsync(CancellationToken stoppingToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        timeout.CancelAfter(_options.CheckInterval);
        try { await _changed.Reader.ReadAsync(timeout.Token); }
        catch (OperationCanceledException) when (!stoppingToken.IsCancellationRequested) { }
    }

    /// <summary>One connected client: the newest snapshot not yet written to it, if any.</summary>
    internal sealed class Subscription(ConsoleEvents owner) : IDisposable
    {
        private readonly Channel<string> _channel = Channel.CreateBounded<string>(
            new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });

        public ChannelReader<string> Reader => _channel.Reader;

        public void Offer(string snapshot) => _channel.Writer.TryWrite(snapshot);

        public void Dispose()
        {
            owner._subscribers.TryRemove(this, out _);
            _channel.Writer.TryComplete();
        }
    }
}
