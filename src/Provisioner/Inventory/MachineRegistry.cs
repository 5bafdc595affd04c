using System.Collections.Concurrent;
using System.Collections.Immutable;
using Provisioner.Profiles;

namespace Provisioner.Inventory;

/// <summary>The boot stages Provisioner can observe, in the order a machine goes through them.</summary>
internal static class BootStage
{
    public const string Ipxe = "ipxe";
    public const string Kernel = "kernel";
    public const string Initrd = "initrd";
    public const string Ignition = "ignition";
}

internal sealed record StageEvent(string Stage, DateTimeOffset At, string? RemoteAddress, string? Detail);

/// <summary>What Provisioner has seen of one machine (known from the profiles, or discovered).</summary>
internal sealed record MachineObservation(
    string Key,
    string? Name,
    bool Known,
    MachineQuery LastQuery,
    ImmutableArray<StageEvent> History)
{
    public StageEvent? Last => History.IsEmpty ? null : History[^1];
}

/// <summary>
/// In-memory record of boot progress per machine (what it asked for, what it reported), for <c>/api/v1/machines</c>
/// and metrics. Not evidence for the approver: that is what <see cref="MachineStateStore"/> persists. Bounded: history per machine and the number of
/// discovered machines are capped so that a flood of unknown MACs cannot exhaust memory.
/// </summary>
internal sealed class MachineRegistry(TimeProvider time)
{
    public const int MaxHistory = 32;
    public const int MaxDiscovered = 4096;

    private readonly ConcurrentDictionary<string, MachineObservation> _machines = new(StringComparer.Ordinal);
    // Discovered keys, least recently seen first: a full table evicts from the front.
    private readonly object _discoveredGate = new();
    private readonly LinkedList<string> _discoveredByAge = new();
    private readonly Dictionary<string, LinkedListNode<string>> _discoveredNodes = new(StringComparer.Ordinal);
    private long _discoveredEvicted;

    /// <summary>
    /// Raised after any recorded event (known or discovered), on the recording thread: subscribers only flag
    /// work (the console's change feed), so a boot request never waits on them.
    /// </summary>
    public event Action? Changed;

    public static string KnownKey(string name) => "machine:" + name;

    private static string DiscoveredKey(MachineQuery query) => "discovered:" + query.DiscoveryKey;

    /// <summary>Discovered machines dropped to make room for newer ones since the start.</summary>
    public long DiscoveredEvicted => Interlocked.Read(ref _discoveredEvicted);

    /// <summary>Records a known machine; it leaves the discovered list (it was adopted into the profiles).</summary>
    public void RecordKnown(MachineSpec machine, MachineQuery query, string stage, string? remote, string? detail = null)
    {
        if (!query.IsEmpty) ForgetDiscovered(DiscoveredKey(query));
        Record(KnownKey(machine.Name), machine.Name, true, query, stage, remote, detail);
        Changed?.Invoke();
    }

    /// <summary>
    /// Records an unknown machine. The table is bounded: when full, the machine seen least recently is dropped
    /// (and counted), so a flood of made-up MACs costs memory once and never keeps a real machine out.
    /// </summary>
    public void RecordDiscovered(MachineQuery query, string stage, string? remote)
    {
        var key = DiscoveredKey(query);
        string? evicted = null;
        lock (_discoveredGate)
        {
            if (_discoveredNodes.TryGetValue(key, out var node)) _discoveredByAge.Remove(node);
            else if (_discoveredNodes.Count >= MaxDiscovered)
            {
                evicted = _discoveredByAge.First!.Value;
                _discoveredByAge.RemoveFirst();
                _discoveredNodes.Remove(evicted);
            }
            _discoveredNodes[key] = _discoveredByAge.AddLast(key);
            // Under the same lock, so an evicted key and the recorded one never cross.
            if (evicted is not null)
            {
                _machines.TryRemove(evicted, out _);
                Interlocked.Increment(ref _discoveredEvicted);
            }
            Record(key, null, false, query, stage, remote, null);
        }
        Changed?.Invoke();
    }

    private void ForgetDiscovered(string key)
    {
        // The usual case, a known machine that was never discovered, takes no lock (every boot request passes here).
        if (!_machines.ContainsKey(key)) return;
        lock (_discoveredGate)
        {
            if (!_discoveredNodes.Remove(key, out var node)) return;
            _discoveredByAge.Remove(node);
            _machines.TryRemove(key, out _);
        }
    }

    private void Record(string key, string? name, bool known, MachineQuery query, string stage, string? remote, string? detail)
    {
        var ev = new StageEvent(stage, time.GetUtcNow(), remote, detail);
        // Static callbacks with their state passed in, and the history window copied once: every boot request passes here.
        _machines.AddOrUpdate(key,
            static (key, a) => new MachineObservation(key, a.Name, a.Known, a.Query, [a.Event]),
            static (_, old, a) => old with { LastQuery = a.Query.IsEmpty ? old.LastQuery : a.Query, History = Appended(old.History, a.Event) },
            (Event: ev, Name: name, Known: known, Query: query));
    }

    /// <summary>The newest <see cref="MaxHistory"/> events with <paramref name="ev"/> last.</summary>
    private static ImmutableArray<StageEvent> Appended(ImmutableArray<StageEvent> history, StageEvent ev)
    {
        var keep = Math.Min(history.Length, MaxHistory - 1);
        var next = new StageEvent[keep + 1];
        history.CopyTo(history.Length - keep, next, 0, keep);
        next[keep] = ev;
        return System.Runtime.InteropServices.ImmutableCollectionsMarshal.AsImmutableArray(next);
    }

    public MachineObservation? Get(string machineName) => _machines.GetValueOrDefault(KnownKey(machineName));

    public IReadOnlyCollection<MachineObservation> All => [.. _machines.Values.OrderBy(m => m.Key, StringComparer.Ordinal)];
}
