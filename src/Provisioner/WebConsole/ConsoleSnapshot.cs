using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Provisioner.Approval;
using Provisioner.Inventory;
using Provisioner.Profiles;

namespace Provisioner.WebConsole;

/// <summary>
/// Everything the console shows, in one document: what <c>GET /api/v1/console</c> answers and what every event of
/// <c>GET /api/v1/events</c> carries. Ages and "stuck" are not in it: they depend on the reader's clock, so the page and
/// the CLI derive them from <see cref="BoardMachine.LastEventAt"/> (see <see cref="Board"/>); the snapshot changes only
/// when something happened.
/// </summary>
internal sealed record ConsoleSnapshot(
    DateTimeOffset GeneratedAt,
    string Cluster,
    double StuckAfterSeconds,
    IReadOnlyList<BoardMachine> Machines,
    IReadOnlyList<DiscoveredMachine> Discovered,
    ApproverView? Approver,
    JsonElement? Release,
    IReadOnlyList<StageDuration> StageDurations);

/// <summary>One known machine on the board.</summary>
/// <param name="State">The last boot stage this process saw (as in <c>/api/v1/machines</c>), or the phase when it saw none.</param>
/// <param name="Timeline">The newest time of each stage, oldest first; persisted deliveries and the node's registration included.</param>
/// <param name="LastReason">The newest thing known about why it is where it is: the last stage's detail or the approver's last decision.</param>
/// <param name="Waiting">What is expected next (kernel, initrd, ignition, bootkube, node registration), null when done.</param>
/// <param name="Done">Provisioned, or for the bootstrap machine bootkube reported <c>complete</c>.</param>
internal sealed record BoardMachine(
    string Name, string Role, bool Bootstrap, string? Mac, string? Uuid, string? Address,
    string State, string Phase, IReadOnlyList<TimelineStep> Timeline, DateTimeOffset? LastEventAt,
    string? LastReason, string? Waiting, bool Done, bool BootkubeComplete);

internal sealed record TimelineStep(string Stage, DateTimeOffset At, string? Detail);

/// <summary>An unknown machine that asked to boot, with the profile entry that would adopt it.</summary>
internal sealed record DiscoveredMachine(
    string? Mac, string? Uuid, string? Serial, string? Hostname, string? Address, DateTimeOffset? LastSeen,
    IReadOnlyList<StageEvent> History, string AdoptYaml);

/// <summary>Time spent reaching <see cref="Stage"/> from the stage before it, across the machines that did.</summary>
internal sealed record StageDuration(string Stage, int Machines, double AverageSeconds, double MaxSeconds);

/// <summary>Builds snapshots and answers the questions the page and the CLI both ask of one.</summary>
internal static class Board
{
    public const string Provisioned = "provisioned";
    public const string BootkubeComplete = "bootkube.complete";

    /// <summary>Compact JSON for the wire (an SSE <c>data:</c> line must not contain a line break).</summary>
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    };

    // The order a bring-up goes through; stages reported by other scripts follow in the order they were first seen.
    private static readonly string[] CanonicalOrder =
    [
        BootStage.Ipxe, BootStage.Kernel, BootStage.Initrd, BootStage.Ignition,
        "bootkube.copy-static-pods", "bootkube.wait-etcd", "bootkube.wait-api", "bootkube.apply-manifests",
        "bootkube.wait-control-plane", "bootkube.label-control-plane", "bootkube.teardown", BootkubeComplete, Provisioned,
    ];

    public static ConsoleSnapshot Build(
        ProfileSet profiles, MachineRegistry registry, MachineStateStore machineState, ApproverView? approver,
        JsonElement? release, ConsoleOptions options, string bootstrapRole, DateTimeOffset now)
    {
        var machines = new List<BoardMachine>();
        foreach (var m in profiles.Machines)
            machines.Add(Machine(m, registry.Get(m.Name), machineState.Get(m.Name) ?? MachineState.New(m.Name), approver, bootstrapRole));

        var roles = string.Join(" | ", profiles.Roles.Keys.Order(StringComparer.Ordinal));
        // A discovered machine an operator has since added to the profiles is adopted: it is on the board, not here.
        var discovered = registry.All
            .Where(o => !o.Known && MachineMatcher.Match(profiles, o.LastQuery) is null)
            .Select(o => new DiscoveredMachine(o.LastQuery.Mac?.ToString(), o.LastQuery.Uuid?.ToString(), o.LastQuery.Serial,
                o.LastQuery.Hostname, o.Last?.RemoteAddress, o.Last?.At, o.History, AdoptYaml(o.LastQuery, roles)))
            .OrderByDescending(d => d.LastSeen)
            .ToList();

        return new ConsoleSnapshot(now, profiles.Cluster.Name, options.StuckAfter.TotalSeconds, machines, discovered,
            approver, release, Durations(machines));
    }

    private static BoardMachine Machine(MachineSpec spec, MachineObservation? seen, MachineState persisted, ApproverView? approver, string bootstrapRole)
    {
        // The newest time of each stage: a machine that boots again shows its current attempt, not its first.
        var latest = new Dictionary<string, TimelineStep>(StringComparer.Ordinal);
        foreach (var e in seen?.History ?? [])
            latest[e.Stage] = new TimelineStep(e.Stage, e.At, e.Detail);
        // After a restart this process has seen nothing, but the persisted state still knows what was delivered.
        if (!latest.ContainsKey(BootStage.Ignition) && persisted.LastDelivery(DeliveryKinds.Ignition) is { } delivery)
            latest[BootStage.Ignition] = new TimelineStep(BootStage.Ignition, delivery.At, "delivered");
        if (!latest.ContainsKey(MachinePhases.Installed) && persisted.InstalledThisRound is { } installed)
            latest[MachinePhases.Installed] = new TimelineStep(MachinePhases.Installed, installed, "reported from disk");
        if (persisted.JoinedAt is { } joined)
            latest[Provisioned] = new TimelineStep(Provisioned, joined, "node registered");
        var timeline = latest.Values.OrderBy(s => s.At).ToList();
        var last = timeline.Count == 0 ? null : timeline[^1];

        var bootstrap = spec.Role == bootstrapRole;
        var complete = latest.TryGetValue(BootkubeComplete, out var c) && c.Detail == "done";
        var done = persisted.Phase == MachinePhases.Provisioned || (bootstrap && complete);

        string? reason = last is null ? null : last.Detail is { Length: > 0 } d ? $"{last.Stage}: {d}" : $"reached {last.Stage}";
        var decision = approver?.RecentDecisions.FirstOrDefault(r => r.Machine == spec.Name);
        if (decision is not null && (last is null || decision.At >= last.At))
            reason = $"approver {decision.Decision} ({decision.Reason}): {decision.Message}";

        return new BoardMachine(spec.Name, spec.Role, bootstrap,
            spec.Select.Macs.IsEmpty ? seen?.LastQuery.Mac?.ToString() : spec.Select.Macs[0].ToString(),
            spec.Select.Uuid?.ToString(),
            spec.Network.Address?.ToString() ?? seen?.Last?.RemoteAddress ?? persisted.LastDelivery(DeliveryKinds.Ignition)?.Address,
            seen?.Last?.Stage ?? (persisted.Phase == MachinePhases.Ready ? "pending" : persisted.Phase),
            persisted.Phase, timeline, last?.At, reason, done ? null : Waiting(last, bootstrap, persisted.Phase == MachinePhases.Installing), done, complete);
    }

    private static string? Waiting(TimelineStep? last, bool bootstrap, bool installing) => last?.Stage switch
    {
        null => null,
        // Install mode: the installer wrote the disk and rebooted; the installed system reports next.
        _ when installing && last.Stage is BootStage.Ignition or BootStage.Ipxe => "the installed system's report (installed)",
        BootStage.Ipxe => BootStage.Kernel,
        BootStage.Kernel => BootStage.Initrd,
        BootStage.Initrd => BootStage.Ignition,
        BootStage.Ignition => bootstrap ? "bootkube" : "node registration",
        { } s when s.StartsWith("bootkube.", StringComparison.Ordinal) && last.Detail == "failed" => $"{s} to be retried (it failed)",
        { } s when s.StartsWith("bootkube.", StringComparison.Ordinal) => "the next bootkube stage",
        _ => "node registration",
    };

    private static List<StageDuration> Durations(IReadOnlyList<BoardMachine> machines)
    {
        var spans = new Dictionary<string, List<double>>(StringComparer.Ordinal);
        var firstSeen = new List<string>();
        foreach (var m in machines)
        {
            for (var i = 1; i < m.Timeline.Count; i++)
            {
                var seconds = (m.Timeline[i].At - m.Timeline[i - 1].At).TotalSeconds;
                if (seconds < 0) continue;
                var stage = m.Timeline[i].Stage;
                if (!spans.TryGetValue(stage, out var list)) { spans[stage] = list = []; firstSeen.Add(stage); }
                list.Add(seconds);
            }
        }
        return [.. firstSeen
            .OrderBy(s => Array.IndexOf(CanonicalOrder, s) is var i and >= 0 ? i : CanonicalOrder.Length + firstSeen.IndexOf(s))
            .Select(s => new StageDuration(s, spans[s].Count, Math.Round(spans[s].Average(), 3), Math.Round(spans[s].Max(), 3)))];
    }

    /// <summary>The <c>machines:</c> entry an operator pastes into the profiles to adopt a discovered machine.</summary>
    public static string AdoptYaml(MachineQuery query, string roles)
    {
        var select = query.Mac is { } mac ? $"mac: {mac}"
            : query.Uuid is { } uuid ? $"uuid: {uuid}"
            : query.Serial is { } serial ? $"serial: {JsonSerializer.Serialize(serial)}"
            : $"hostname: {JsonSerializer.Serialize(query.Hostname ?? "")}";
        var text = new StringBuilder();
        text.Append("machines:\n");
        text.Append("  - name: NAME          # host and node name\n");
        text.Append($"    role: ROLE          # {roles}\n");
        text.Append("    select:\n");
        text.Append($"      {select}\n");
        return text.ToString();
    }

    /// <summary>No progress for longer than the threshold, and not done; a machine that never asked is not stuck, only pending.</summary>
    public static bool IsStuck(BoardMachine machine, TimeSpan stuckAfter, DateTimeOffset now) =>
        !machine.Done && machine.LastEventAt is { } at && now - at > stuckAfter;

    /// <summary>
    /// The cluster is up when every bootstrap machine reported bootkube's <c>complete</c> stage and every other known
    /// machine is provisioned (its Node registered); otherwise the reason names what is missing.
    /// </summary>
    public static (bool Ready, string Reason) ClusterReady(ConsoleSnapshot snapshot)
    {
        var missing = new List<string>();
        foreach (var m in snapshot.Machines.Where(m => m.Bootstrap && !m.BootkubeComplete))
            missing.Add($"{m.Name} (bootstrap) has not reported {BootkubeComplete} (last: {m.State})");
        foreach (var m in snapshot.Machines.Where(m => !m.Bootstrap && m.Phase != MachinePhases.Provisioned))
            missing.Add($"{m.Name} is {m.Phase} (last: {m.State})");
        return missing.Count == 0
            ? (true, $"cluster {snapshot.Cluster} is ready: {snapshot.Machines.Count} machine(s)")
            : (false, string.Join("; ", missing));
    }
}
