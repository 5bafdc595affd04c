using System.Globalization;
using System.Text;
using System.Text.Json;
using Provisioner.WebConsole;

namespace Provisioner.Cli;

/// <summary>The console's board as text for <c>provisioner status</c>: the same facts as the page, as a table.</summary>
internal static class BoardText
{
    private const string Red = "\u001b[31m", Green = "\u001b[32m", Reset = "\u001b[0m";

    /// <summary>Ages as the page writes them (<c>0s</c>, <c>4m05s</c>, <c>2h10m</c>, <c>3d04h</c>).</summary>
    public static string Duration(TimeSpan span)
    {
        var s = Math.Max(0, (long)span.TotalSeconds);
        if (s < 60) return $"{s}s";
        var m = s / 60;
        if (m < 60) return $"{m}m{s % 60:00}s";
        var h = m / 60;
        return h < 24 ? $"{h}h{m % 60:00}m" : $"{h / 24}d{h % 24:00}h";
    }

    private static string Clock(DateTimeOffset at) => at.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture);

    public static string Render(ConsoleSnapshot snapshot, DateTimeOffset now, bool color)
    {
        var stuckAfter = TimeSpan.FromSeconds(snapshot.StuckAfterSeconds);
        string Paint(string text, string code) => color ? code + text + Reset : text;
        var text = new StringBuilder();
        var stuck = snapshot.Machines.Where(m => Board.IsStuck(m, stuckAfter, now)).ToList();
        text.Append(CultureInfo.InvariantCulture,
            $"cluster {snapshot.Cluster}: {snapshot.Machines.Count} machines, {snapshot.Machines.Count(m => m.Phase == "provisioned")} provisioned, " +
            $"{stuck.Count} stuck (no progress for {Duration(stuckAfter)}), {snapshot.Discovered.Count} discovered\n\n");

        var rows = new List<string[]> { new[] { "NAME", "ROLE", "MAC", "ADDRESS", "PHASE", "STATE", "LAST", "FLAG", "TIMELINE" } };
        var marks = new List<string> { "" };
        foreach (var m in snapshot.Machines)
        {
            var mark = Board.IsStuck(m, stuckAfter, now) ? "STUCK" : m.Done ? "done" : "";
            marks.Add(mark);
            rows.Add([
                m.Name, m.Role, m.Mac ?? m.Uuid ?? "-", m.Address ?? "-", m.Phase, m.State,
                // Fixed width, so that a table whose ages differ still lines up (and golden tests can mask them).
                (m.LastEventAt is { } at ? Duration(now - at) : "-").PadLeft(6),
                mark,
                m.Timeline.Count == 0 ? "-" : string.Join(" > ", m.Timeline.Select(s => $"{s.Stage} {Clock(s.At)}")),
            ]);
        }
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        for (var r = 0; r < rows.Count; r++)
        {
            var cells = rows[r].Select((cell, c) => c == rows[r].Length - 1 ? cell : cell.PadRight(widths[c])).ToArray();
            if (marks[r] == "STUCK") cells[7] = Paint(cells[7], Red);
            else if (marks[r] == "done") cells[7] = Paint(cells[7], Green);
            text.Append(string.Join("  ", cells).TrimEnd()).Append('\n');
        }
        foreach (var m in stuck)
            text.Append(CultureInfo.InvariantCulture,
                $"  {Paint("STUCK", Red)} {m.Name}: no progress for {Duration(now - m.LastEventAt!.Value)}; last: {m.LastReason ?? m.State}{(m.Waiting is null ? "" : "; waiting for " + m.Waiting)}\n");

        if (snapshot.Discovered.Count > 0)
        {
            text.Append("\ndiscovered (add to the profiles to adopt):\n");
            foreach (var d in snapshot.Discovered)
                text.Append(CultureInfo.InvariantCulture,
                    $"  {d.Mac ?? d.Uuid ?? d.Serial ?? d.Hostname}  from {d.Address ?? "-"}  last seen {(d.LastSeen is { } seen ? Duration(now - seen) : "-")} ago  sent: {string.Join(", ", d.History.Select(h => h.Stage).Distinct())}\n");
        }

        if (snapshot.Approver is { } a)
        {
            text.Append(CultureInfo.InvariantCulture,
                $"\napprover: {a.State}{(a.Detail is null ? "" : $" ({a.Detail})")}; leader {a.Leader ?? "-"}; {a.Pending} pending; {a.Nodes} nodes\n");
            foreach (var d in a.RecentDecisions.Take(5))
                text.Append(CultureInfo.InvariantCulture, $"  {Clock(d.At)}  {d.Csr}  {d.Machine ?? d.Node ?? "-"}  {d.Decision} {d.Reason}: {d.Message}\n");
        }

        text.Append('\n').Append(Release(snapshot.Release)).Append('\n');
        return text.ToString();
    }

    private static string Release(JsonElement? status)
    {
        if (status is not { ValueKind: JsonValueKind.Object } s || !s.TryGetProperty("release", out var r) || r.ValueKind != JsonValueKind.Object)
            return "release: none defined in the profiles (roles boot from paths below --assets)";
        var items = r.GetProperty("artifacts").EnumerateArray().Select(a => (Name: $"{a.GetProperty("name").GetString()} ({a.GetProperty("architecture").GetString()})", Present: a.GetProperty("present").GetBoolean()))
            .Concat(r.GetProperty("images").EnumerateArray().Select(i => (Name: i.GetProperty("image").GetString()!, Present: i.GetProperty("present").GetBoolean())))
            .ToList();
        var missing = items.Where(i => !i.Present).Select(i => i.Name).ToList();
        return $"release: Kubernetes {r.GetProperty("kubernetesVersion").GetString()}, {items.Count - missing.Count} of {items.Count} present" +
               (missing.Count == 0 ? "" : $"; missing: {string.Join(", ", missing)}");
    }
}
