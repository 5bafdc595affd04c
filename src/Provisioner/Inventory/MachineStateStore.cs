using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Provisioner.Primitives;

namespace Provisioner.Inventory;

/// <summary>What Provisioner handed a machine: <see cref="What"/> is one of <see cref="DeliveryKinds"/>.</summary>
internal sealed record Delivery(string What, DateTimeOffset At, string? Address);

internal static class DeliveryKinds
{
    /// <summary>The machine's Ignition config, with its bootstrap token and keys.</summary>
    public const string Ignition = "ignition";
}

/// <summary>Where a known machine is in its provisioning, as persisted in the machine state file.</summary>
internal static class MachinePhases
{
    /// <summary>Known from the profiles; nothing delivered yet.</summary>
    public const string Ready = "ready";
    /// <summary>Its Ignition config was delivered; its node has not registered yet.</summary>
    public const string Provisioning = "provisioning";
    /// <summary>Its Node registered: a kubelet holds a working client certificate.</summary>
    public const string Provisioned = "provisioned";
    /// <summary>Install mode: the installer fetched the config to write to disk; the installed system has not reported yet.</summary>
    public const string Installing = "installing";
    /// <summary>Install mode: the installed system booted from disk and reported (stage <c>installed</c>).</summary>
    public const string Installed = "installed";

    /// <summary>Every phase, in the order a machine goes through them (install mode adds installing and installed).</summary>
    public static readonly IReadOnlyList<string> All = [Ready, Installing, Provisioning, Installed, Provisioned];
}

/// <summary>
/// Install mode's two facts: when the installer fetched the machine's config (<see cref="InstallingAt"/>) and when the
/// installed system first reported from disk (<see cref="InstalledAt"/>). Either counts only in the round it happened
/// in (not before the machine's <see cref="MachineState.ArmedAt"/>).
/// </summary>
internal sealed record InstallProgress(DateTimeOffset? InstallingAt, DateTimeOffset? InstalledAt);

/// <summary>The persisted provisioning facts of one machine.</summary>
/// <remarks>
/// <see cref="ArmedAt"/> is when an operator last asked for the machine to be provisioned afresh: deliveries
/// before it belong to an earlier round and no longer make the machine "provisioning".
/// </remarks>
/// <para>
/// <see cref="Tickets"/> are the newest boot tickets that released the machine's config (hashes only, see
/// <see cref="BootTicket"/>: a ticket costs no state until it is used);
/// <see cref="ReportKeyHash"/> is the hash of the report key the machine's last delivered config carries;
/// <see cref="FirstSeenAt"/> is when the server first found the machine in the profiles (its first armed window).
/// </para>
internal sealed record MachineState(string Name, ImmutableArray<Delivery> Deliveries, DateTimeOffset? JoinedAt, DateTimeOffset? ArmedAt = null,
    ImmutableArray<BootTicket> Tickets = default, string? ReportKeyHash = null, DateTimeOffset? FirstSeenAt = null)
{
    public static MachineState New(string name) => new(name, [], null, Tickets: []);

    /// <summary>The newest delivery of that kind, if any.</summary>
    public Delivery? LastDelivery(string what)
    {
        for (var i = Deliveries.Length - 1; i >= 0; i--)
            if (Deliveries[i].What == what) return Deliveries[i];
        return null;
    }

    /// <summary>The newest delivery of that kind in the current provisioning round (since <see cref="ArmedAt"/>).</summary>
    public Delivery? LastDeliveryThisRound(string what) =>
        LastDelivery(what) is { } d && (ArmedAt is null || d.At >= ArmedAt) ? d : null;

    /// <summary><see cref="Tickets"/>, empty rather than default for states made without any.</summary>
    [JsonIgnore]
    public ImmutableArray<BootTicket> UsedTickets => Tickets.IsDefault ? [] : Tickets;

    /// <summary>Install mode progress (null: never installed, or a live-mode machine).</summary>
    public InstallProgress? Install { get; init; }

    /// <summary>When this round's installer fetched the config, if it did: from then on the machine boots its disk.</summary>
    [JsonIgnore]
    public DateTimeOffset? InstallingThisRound => ThisRound(Install?.InstallingAt);

    /// <summary>When the installed system reported from disk in this round, if it did.</summary>
    [JsonIgnore]
    public DateTimeOffset? InstalledThisRound => ThisRound(Install?.InstalledAt);

    private DateTimeOffset? ThisRound(DateTimeOffset? at) => at is { } t && (ArmedAt is null || t >= ArmedAt) ? t : null;

    [JsonIgnore]
    public string Phase => JoinedAt is not null ? MachinePhases.Provisioned
        : InstalledThisRound is not null ? MachinePhases.Installed
        : InstallingThisRound is not null ? MachinePhases.Installing
        : LastDeliveryThisRound(DeliveryKinds.Ignition) is not null ? MachinePhases.Provisioning
        : MachinePhases.Ready;
}

/// <summary>
/// The provisioning state of every known machine, persisted in <c>&lt;cluster-dir&gt;/state/machines.json</c>
/// (0600, atomic replace, under an exclusive lock like the token file), so that what a machine was given survives
/// a restart of <c>serve</c>: Ignition runs once, and the approver's "fetched its Ignition" rule must still hold
/// for that machine afterwards. A change is on disk before the call that made it returns; changes made at the same
/// time share one write (a boot storm costs a few writes, not one per machine).
/// </summary>
internal sealed class MachineStateStore : IHostedService
{
    public const string RelativePath = "state/machines.json";
    /// <summary>Deliveries kept per machine: enough to see a re-fetch loop, bounded whatever a machine does.</summary>
    public const int MaxDeliveries = 16;

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly object _gate = new();
    private List<PendingChange> _queued = [];
    private bool _writing;
    private ImmutableDictionary<string, MachineState> _byName;

    private sealed record PendingChange(
        Func<ImmutableDictionary<string, MachineState>, ImmutableDictionary<string, MachineState>> Change,
        TaskCompletionSource Done);

    /// <summary>An empty store for <paramref name="path"/>; <see cref="StartAsync"/> (the server's start) or <see cref="OpenAsync"/> reads the file.</summary>
    public MachineStateStore(string path, TimeProvider time)
    {
        (_path, _time, _byName) = (Path.GetFullPath(path), time, ImmutableDictionary.Create<string, MachineState>(StringComparer.Ordinal));
    }

    /// <summary>Raised after a write, with the names of the machines whose state changed.</summary>
    public event Action<IReadOnlyCollection<string>>? Changed;

    public string FilePath => _path;

    public static string PathIn(string clusterDirectory) => Path.Combine(clusterDirectory, RelativePath);

    /// <summary>Opens the store; a missing file is an empty store, a corrupt one an error naming the file.</summary>
    public static async Task<MachineStateStore> OpenAsync(string path, TimeProvider time, CancellationToken cancellationToken)
    {
        var store = new MachineStateStore(path, time);
        await store.StartAsync(cancellationToken);
        return store;
    }

    /// <summary>Reads the file (hosted services start in registration order: register this before its users).</summary>
    public async Task StartAsync(CancellationToken cancellationToken) => _byName = await ReadAsync(_path, cancellationToken);

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public MachineState? Get(string machineName) => _byName.GetValueOrDefault(machineName);

    /// <summary>The machines whose node has registered.</summary>
    public IReadOnlySet<string> JoinedMachines() =>
        _byName.Values.Where(m => m.JoinedAt is not null).Select(m => m.Name).ToHashSet(StringComparer.Ordinal);

    public ImmutableArray<MachineState> All => [.. _byName.Values.OrderBy(m => m.Name, StringComparer.Ordinal)];

    /// <summary>Records that <paramref name="what"/> went to <paramref name="machineName"/> at <paramref name="address"/>, now.</summary>
    public Task RecordDeliveryAsync(string machineName, string what, string? address, CancellationToken cancellationToken)
    {
        var delivery = new Delivery(what, _time.GetUtcNow(), address);
        return UpdateAsync(states =>
        {
            var state = states.GetValueOrDefault(machineName) ?? MachineState.New(machineName);
            var deliveries = state.Deliveries.Add(delivery);
            if (deliveries.Length > MaxDeliveries) deliveries = deliveries.RemoveRange(0, deliveries.Length - MaxDeliveries);
            return states.SetItem(machineName, state with { Deliveries = deliveries });
        }, cancellationToken);
    }

    /// <summary>Records that the nodes of these machines registered (those already recorded keep their first time).</summary>
    public Task MarkJoinedAsync(IReadOnlyCollection<string> machineNames, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        return UpdateAsync(states =>
        {
            foreach (var name in machineNames)
            {
                var state = states.GetValueOrDefault(name) ?? MachineState.New(name);
                if (state.JoinedAt is null) states = states.SetItem(name, state with { JoinedAt = now });
            }
            return states;
        }, cancellationToken);
    }

    /// <summary>
    /// Starts a new provisioning round for the machine: it is no longer joined, and deliveries so far are history.
    /// </summary>
    public Task ReprovisionAsync(string machineName, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        return UpdateAsync(states =>
            states.SetItem(machineName, (states.GetValueOrDefault(machineName) ?? MachineState.New(machineName)) with { JoinedAt = null, ArmedAt = now }),
            cancellationToken);
    }

    /// <summary>
    /// Applies <paramref name="change"/> to the machine's state (a new one when it has none) as part of a write, and
    /// returns the state it made. The change sees every change made before it, in this process and others, so a
    /// check-and-set inside it (redeem a ticket once) holds under concurrent requests.
    /// </summary>
    public async Task<MachineState> ChangeAsync(string machineName, Func<MachineState, MachineState> change, CancellationToken cancellationToken)
    {
        MachineState? result = null;
        await UpdateAsync(states =>
        {
            result = change(states.GetValueOrDefault(machineName) ?? MachineState.New(machineName));
            return states.SetItem(machineName, result);
        }, cancellationToken);
        return result!;
    }

    /// <summary>
    /// Install mode: the installer fetched the machine's config, now. The first fetch of a round is kept (a retrying
    /// installer does not move it); a fetch in a new round (after a reprovision) starts the install facts afresh.
    /// </summary>
    public Task RecordInstallingAsync(string machineName, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        return UpdateAsync(states =>
        {
            var state = states.GetValueOrDefault(machineName) ?? MachineState.New(machineName);
            return state.InstallingThisRound is not null ? states
                : states.SetItem(machineName, state with { Install = new InstallProgress(now, null) });
        }, cancellationToken);
    }

    /// <summary>Install mode: the installed system reported from disk, now (the first report of a round is kept).</summary>
    public Task RecordInstalledAsync(string machineName, CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        return UpdateAsync(states =>
        {
            var state = states.GetValueOrDefault(machineName) ?? MachineState.New(machineName);
            if (state.InstalledThisRound is not null) return states;
            // An installed system can report without a recorded installer fetch (a state file restored from before it).
            var installing = state.InstallingThisRound ?? now;
            return states.SetItem(machineName, state with { Install = new InstallProgress(installing, now) });
        }, cancellationToken);
    }

    /// <summary>
    /// Queues <paramref name="change"/>; the first caller to find no write under way writes every change queued
    /// by then (and keeps writing while more arrive), so concurrent callers share fsyncs. Each call completes once
    /// its change is on disk.
    /// </summary>
    private Task UpdateAsync(Func<ImmutableDictionary<string, MachineState>, ImmutableDictionary<string, MachineState>> change,
        CancellationToken cancellationToken)
    {
        var pending = new PendingChange(change, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously));
        bool write;
        lock (_gate)
        {
            _queued.Add(pending);
            write = !_writing;
            _writing = true;
        }
        if (write) _ = WriteQueuedAsync();
        return pending.Done.Task.WaitAsync(cancellationToken);
    }

    private async Task WriteQueuedAsync()
    {
        while (true)
        {
            List<PendingChange> batch;
            lock (_gate)
            {
                if (_queued.Count == 0)
                {
                    _writing = false;
                    return;
                }
                (batch, _queued) = (_queued, []);
            }
            try
            {
                var changed = await WriteAsync(batch);
                foreach (var p in batch) p.Done.TrySetResult();
                if (changed.Count > 0) Changed?.Invoke(changed);
            }
            catch (Exception e)
            {
                foreach (var p in batch) p.Done.TrySetException(e);
            }
        }
    }

    /// <summary>Applies the batch to the file as it is on disk now and writes it; returns the machines that changed.</summary>
    private async Task<IReadOnlyCollection<string>> WriteAsync(List<PendingChange> batch)
    {
        // No cancellation: a change some caller waits for is written whole or not at all.
        await using var fileLock = await FileLock.AcquireAsync(_path, CancellationToken.None);
        // Re-read only when the file is not the one this instance wrote last (another process wrote it since): in a
        // boot storm writes follow each other back to back, and parsing the whole file again was most of their cost.
        var current = _lastWritten is { } written && FileStamp.Of(_path) == written ? _byName : await ReadAsync(_path, CancellationToken.None);
        var next = current;
        foreach (var p in batch) next = p.Change(next);
        if (next.Any(kv => !SameState(current.GetValueOrDefault(kv.Key), kv.Value)))
        {
            var text = JsonSerializer.Serialize(new StoredStates([.. next.Values.OrderBy(m => m.Name, StringComparer.Ordinal).Select(m => m with { Tickets = m.UsedTickets })]), Json);
            _lastWritten = null;
            await AtomicFile.WriteAsync(_path, text, AtomicFile.PrivateMode, CancellationToken.None);
            _lastWritten = FileStamp.Of(_path);
        }
        // Changed relative to what this instance knew: another process's writes count too.
        var known = _byName;
        _byName = next;
        return [.. next.Keys.Where(k => !SameState(known.GetValueOrDefault(k), next[k]))];
    }

    private FileStamp? _lastWritten;

    /// <summary>Length and modification time (to the tick) of a file: every write of it (an atomic rename) changes them.</summary>
    private readonly record struct FileStamp(long Length, DateTime Modified)
    {
        public static FileStamp? Of(string path)
        {
            var info = new FileInfo(path);
            return info.Exists ? new FileStamp(info.Length, info.LastWriteTimeUtc) : null;
        }
    }

    // Records with ImmutableArray members compare arrays by reference; states compare by content.
    private static bool SameState(MachineState? a, MachineState? b) =>
        a is null ? b is null : b is not null && a.Name == b.Name && a.JoinedAt == b.JoinedAt && a.ArmedAt == b.ArmedAt && a.Install == b.Install && a.Deliveries.SequenceEqual(b.Deliveries)
           && a.ReportKeyHash == b.ReportKeyHash && a.FirstSeenAt == b.FirstSeenAt && a.UsedTickets.SequenceEqual(b.UsedTickets);

    private static async Task<ImmutableDictionary<string, MachineState>> ReadAsync(string path, CancellationToken cancellationToken)
    {
        var states = ImmutableDictionary.Create<string, MachineState>(StringComparer.Ordinal);
        if (!File.Exists(path)) return states;
        await using var stream = File.OpenRead(path);
        StoredStates? stored;
        try { stored = await JsonSerializer.DeserializeAsync<StoredStates>(stream, Json, cancellationToken); }
        catch (JsonException e) { throw new InvalidDataException($"{path}: not a machine state file: {e.Message}", e); }
        foreach (var m in stored?.Machines ?? [])
        {
            if (string.IsNullOrEmpty(m.Name)) throw new InvalidDataException($"{path}: a machine entry has no name");
            states = states.SetItem(m.Name, m with { Deliveries = m.Deliveries.IsDefault ? [] : m.Deliveries, Tickets = m.Tickets.IsDefault ? [] : m.Tickets });
        }
        return states;
    }

    private sealed record StoredStates([property: JsonPropertyName("machines")] ImmutableArray<MachineState> Machines);
}

internal static class MachineStateServiceCollectionExtensions
{
    /// <summary>
    /// Registers the persisted machine state of <paramref name="clusterDirectory"/>, read when the server starts;
    /// register it before the services that read it at their start.
    /// </summary>
    public static IServiceCollection AddMachineState(this IServiceCollection services, ClusterDirectoryPath clusterDirectory)
    {
        services.AddSingleton(sp => new MachineStateStore(MachineStateStore.PathIn(clusterDirectory.FullPath), sp.GetRequiredService<TimeProvider>()));
        services.AddHostedService(sp => sp.GetRequiredService<MachineStateStore>());
        return services;
    }
}
