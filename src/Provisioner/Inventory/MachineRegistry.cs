using System.Collections.Concurrent;
using System.Collections.Immutable;
using Provisioner.Profiles;

namespace Provisioner.Inventory;

/// <summary>The boot stages Provisioner can observe, in the order a machine goes through them.</summary>
public static class BootStage
{
    public const string Ipxe = "ipxe";
    public const string Kernel = "kernel";
    public const string Initrd = "initrd";
    public const string Ignition = "ignition";
}

public sealed record StageEvent(string Stage, DateTimeOffset At, string? RemoteAddress, string? Detail);

/// <summary>What Provisioner has seen of one machine (known from the profiles, or discovered).</summary>
public sealed record MachineObservation(
    string Key,
    string? Name,
    bool Known,
    MachineQuery LastQuery,
    ImmutableList<StageEvent> History)
{
    public StageEvent? Last => History.IsEmpty ? null : History[^1];
}

/// <summary>
/// In-memory record of boot progress per machine (what it asked for, what it reported), for <c>/api/v1/machines</c>
/// and metrics. Not evidence for the approver: that is what <see cref="MachineStateStore"/> persists. Bounded: history per machine and the number of
/// discovered machines are capped so that a flood of unknown MACs cannot exhaust memory.
/// </summary>
public sealed class MachineRegistry(TimeProvider time)
{
    public const int MaxHistory = 32;
    public const int MaxDiscovered = 4096;

    private readonly ConcurrentDictionary<string, MachineObservation> _machines = new(StringComparer.Ordinal);

    public static string KnownKey(string name) => "machine:" + name;

    public void RecordKnown(MachineSpec machine, MachineQuery query, string stage, string? remote, string? detail = null) =>
        Record(KnownKey(machine.Name), machine.Name, true, query, stage, remote, detail);

    /// <summary>Records an unknown machine; returns false when the discovered table is full.</summary>
    public bool RecordDiscovered(MachineQuery query, string stage, string? remote)
    {
        var key = "discovered:" + query.DiscoveryKey;
        if (!_machines.ContainsKey(key) && _machines.Count(kv => !kv.Value.Known) >= MaxDiscovered) return false;
        Record(key, null, false, query, stage, remote, null);
        return true;
    }

    private void Record(string key, string? name, bool known, MachineQuery query, string stage, string? remote, string? detail)
    {
        var ev = new StageEvent(stage, time.GetUtcNow(), remote, detail);
        _machines.AddOrUpdate(key,
            _ => new MachineObservation(key, name, known, query, [ev]),
            (_, old) =>
            {
                var history = old.History.Add(ev);
                if (history.Count > MaxHistory) history = history.RemoveRange(0, history.Count - MaxHistory);
                return old with { LastQuery = query.IsEmpty ? old.LastQuery : query, History = history };
            });
    }

    public MachineObservation? Get(string machineName) => _machines.GetValueOrDefault(KnownKey(machineName));

    public IReadOnlyCollection<MachineObservation> All => [.. _machines.Values.OrderBy(m => m.Key, StringComparer.Ordinal)];
}
