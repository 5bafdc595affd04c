using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Provisioner.WebConsole;
using Provisioner.Primitives;

namespace Provisioner.Cli;

/// <summary>
/// Commands that talk to a running server over HTTP (<c>--server</c>): <c>status [--watch]</c>,
/// <c>wait-for cluster-ready</c>, <c>machines list|show|reprovision</c>. Spellings are stable: scripts depend on them.
/// </summary>
internal static partial class StatusCommands
{
    public static IEnumerable<Command> Build(TextWriter stdout, TextWriter stderr, Func<string, string?> env)
    {
        var server = new Option<string?>("--server")
        {
            Description = $"Base URL of the running provisioner. Default: PROVISIONER_SERVER, else {ConsoleClient.DefaultServer}.",
            HelpName = "URL",
        };
        var tokenFile = new Option<string?>("--token-file")
        {
            Description = "The operator token (<cluster-dir>/auth/operator.token), needed when the server is not on this host. Default: PROVISIONER_TOKEN_FILE.",
            HelpName = "FILE",
        };
        ConsoleClient Client(ParseResult r) => ConsoleClient.For(r.GetValue(server) ?? env("PROVISIONER_SERVER") ?? ConsoleClient.DefaultServer,
            r.GetValue(tokenFile) ?? env("PROVISIONER_TOKEN_FILE"));
        // Redrawing in place only makes sense on a terminal; a pipe or file gets plain lines.
        bool Terminal() => ReferenceEquals(stdout, Console.Out) && !Console.IsOutputRedirected;

        var watch = new Option<bool>("--watch") { Description = "Keep following the server's change feed; redraw in place on a terminal, print each new board otherwise." };
        var status = new Command("status", "Print the machine board (state, phase, timeline, stuck machines), discovered machines, approver and release of a running server.")
            { server, tokenFile, watch };
        status.SetAction((r, ct) => Run(stderr, async () =>
        {
            using var client = Client(r);
            if (!r.GetValue(watch))
            {
                await stdout.WriteAsync(BoardText.Render(await client.SnapshotAsync(ct), DateTimeOffset.UtcNow, false));
                return 0;
            }
            await WatchAsync(client, stdout, stderr, Terminal(), ct);
            return 0;
        }));

        var what = new Argument<string>("condition") { Description = "What to wait for: cluster-ready." };
        what.AcceptOnlyFromAmong("cluster-ready");
        var timeout = new Option<string>("--timeout") { Description = "Give up after this long (e.g. 90s, 30m, 1h30m).", HelpName = "DURATION", DefaultValueFactory = _ => "30m" };
        var waitFor = new Command("wait-for",
            "Wait until the cluster is up: the bootstrap machine reported bootkube's 'complete' stage and every other machine is provisioned (its Node registered). Exit 0 then; 1 with the reason at the timeout.")
            { what, timeout, server, tokenFile };
        waitFor.SetAction((r, ct) => Run(stderr, async () =>
        {
            var limit = ParseDuration(r.GetValue(timeout)!);
            using var client = Client(r);
            return await WaitForClusterReadyAsync(client, limit, stdout, stderr, ct);
        }));

        var name = new Argument<string>("name") { Description = "Machine name as written in the profiles." };
        var list = new Command("list", "List known and discovered machines with their state and phase.") { server, tokenFile };
        list.SetAction((r, ct) => Run(stderr, async () =>
        {
            using var client = Client(r);
            using var doc = await client.MachinesAsync(ct);
            await stdout.WriteAsync(MachinesTable(doc.RootElement.GetProperty("machines")));
            return 0;
        }));
        var show = new Command("show", "Show one machine: identity, state, phase, deliveries, history.") { name, server, tokenFile };
        show.SetAction((r, ct) => Run(stderr, async () =>
        {
            using var client = Client(r);
            using var doc = await client.MachinesAsync(ct);
            var wanted = r.GetValue(name)!;
            var machines = doc.RootElement.GetProperty("machines").EnumerateArray().ToList();
            var machine = machines.FirstOrDefault(m => Str(m, "name") == wanted);
            if (machine.ValueKind != JsonValueKind.Object)
            {
                await stderr.WriteLineAsync($"no machine named '{wanted}' (machines: {string.Join(", ", machines.Select(m => Str(m, "name")).OfType<string>())})");
                return 1;
            }
            await stdout.WriteAsync(MachineDetails(machine));
            return 0;
        }));
        var reprovision = new Command("reprovision",
            "Provision the machine afresh on its next boot: a new round in its state, its bootstrap tokens revoked (the next config carries a new one).")
            { name, server, tokenFile };
        reprovision.SetAction((r, ct) => Run(stderr, async () =>
        {
            using var client = Client(r);
            using var answer = await client.ReprovisionAsync(r.GetValue(name)!, ct);
            var root = answer.RootElement;
            var revoked = root.GetProperty("revokedTokens").EnumerateArray().Select(t => t.GetString()).ToList();
            await stdout.WriteLineAsync($"{Str(root, "machine")}: {Str(root, "phase")}; {revoked.Count} bootstrap token(s) revoked{(revoked.Count > 0 ? " (" + string.Join(", ", revoked) + ")" : "")}");
            await stdout.WriteLineAsync(Str(root, "note"));
            return 0;
        }));
        var machinesCommand = new Command("machines", "Inspect the machines of a running server, or provision one afresh.") { list, show, reprovision };

        return [status, waitFor, machinesCommand];
    }

    private static async Task WatchAsync(ConsoleClient client, TextWriter stdout, TextWriter stderr, bool terminal, CancellationToken ct)
    {
        // The feed's newest snapshot; the drawing loop also wakes every second on a terminal, because ages move.
        var latest = Channel.CreateBounded<ConsoleSnapshot>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropOldest });
        string? lastError = null;
        var feed = client.WatchAsync(s => latest.Writer.WriteAsync(s, ct).AsTask(), e => lastError = e, ct);
        ConsoleSnapshot? shown = null;
        string? shownText, printedText = null;
        static string Content(ConsoleSnapshot s) => System.Text.Json.JsonSerializer.Serialize(s with { GeneratedAt = default }, Board.Json);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                ConsoleSnapshot? next = null;
                if (terminal)
                {
                    using var tick = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    tick.CancelAfter(TimeSpan.FromSeconds(1));
                    try { next = await latest.Reader.ReadAsync(tick.Token); }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
                }
                else next = await latest.Reader.ReadAsync(ct);
                shown = next ?? shown;
                var now = DateTimeOffset.UtcNow;
                if (terminal)
                {
                    // Home and clear-to-end: one write per frame, so the board does not flicker.
                    var frame = "\u001b[H\u001b[J" + (shown is null ? "" : BoardText.Render(shown, now, true)) +
                                $"\nwatching {client.Server} · {(lastError is null ? "live" : "reconnecting: " + lastError)} · {now.ToLocalTime():HH:mm:ss} · Ctrl-C to stop\n";
                    await stdout.WriteAsync(frame);
                }
                else if (next is not null && (shownText = Content(next)) != printedText)
                {
                    // A reconnect (or the feed's first change check) may repeat the board: a log gets each board once.
                    printedText = shownText;
                    await stdout.WriteAsync($"--- {now.ToLocalTime().ToString("HH:mm:ss", CultureInfo.InvariantCulture)}\n" + BoardText.Render(next, now, false));
                }
                await stdout.FlushAsync(ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        await feed;
    }

    internal static async Task<int> WaitForClusterReadyAsync(ConsoleClient client, TimeSpan limit, TextWriter stdout, TextWriter stderr, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(limit);
        string reason = $"no answer from {client.Server} yet";
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await client.WatchAsync(async snapshot =>
        {
            var (ok, why) = Board.ClusterReady(snapshot);
            if (why != reason && !ok) await stderr.WriteLineAsync($"waiting: {why}");
            reason = why;
            if (ok)
            {
                ready.TrySetResult();
                await deadline.CancelAsync(); // ends the watch
            }
        }, error => reason = $"cannot follow {client.Server}: {error}", deadline.Token);
        if (ready.Task.IsCompleted)
        {
            await stdout.WriteLineAsync(reason);
            return 0;
        }
        if (ct.IsCancellationRequested) return 130;
        await stderr.WriteLineAsync($"timed out after {BoardText.Duration(limit)}: {reason}");
        return 1;
    }

    [GeneratedRegex(@"^(?:(?<h>\d+)h)?(?:(?<m>\d+)m)?(?:(?<s>\d+)s)?$")]
    private static partial Regex DurationPattern();

    /// <summary><c>90s</c>, <c>30m</c>, <c>1h30m</c>, or plain seconds.</summary>
    public static TimeSpan ParseDuration(string text)
    {
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds)) return TimeSpan.FromSeconds(seconds);
        var match = DurationPattern().Match(text);
        if (text.Length == 0 || !match.Success)
            throw new SettingsException($"--timeout: '{text}' is not a duration (e.g. 90s, 30m, 1h30m)");
        int Part(string g) => match.Groups[g].Success ? int.Parse(match.Groups[g].Value, CultureInfo.InvariantCulture) : 0;
        return new TimeSpan(Part("h"), Part("m"), Part("s"));
    }

    private static string? Str(JsonElement e, string property) =>
        e.TryGetProperty(property, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;

    private static string MachinesTable(JsonElement machines)
    {
        var rows = new List<string[]> { new[] { "NAME", "ROLE", "STATE", "PHASE", "MAC", "LAST SEEN" } };
        foreach (var m in machines.EnumerateArray())
            rows.Add([Str(m, "name") ?? "(discovered)", Str(m, "role") ?? "-", Str(m, "state") ?? "-", Str(m, "phase") ?? "-",
                Str(m, "mac") ?? Str(m, "uuid") ?? Str(m, "serial") ?? Str(m, "hostname") ?? "-", Str(m, "lastSeen") ?? "-"]);
        var widths = Enumerable.Range(0, rows[0].Length).Select(c => rows.Max(r => r[c].Length)).ToArray();
        return string.Concat(rows.Select(r => string.Join("  ", r.Select((cell, c) => cell.PadRight(widths[c]))).TrimEnd() + "\n"));
    }

    private static string MachineDetails(JsonElement m)
    {
        var text = new System.Text.StringBuilder();
        foreach (var p in new[] { "name", "role", "state", "phase", "mac", "uuid", "serial", "hostname", "lastSeen", "joinedAt" })
            if (Str(m, p) is { } value) text.Append(CultureInfo.InvariantCulture, $"{p + ":",-10} {value}\n");
        if (m.TryGetProperty("deliveries", out var deliveries) && deliveries.GetArrayLength() > 0)
        {
            text.Append("deliveries:\n");
            foreach (var d in deliveries.EnumerateArray())
                text.Append(CultureInfo.InvariantCulture, $"  {Str(d, "at")}  {Str(d, "what")}  to {Str(d, "address") ?? "-"}\n");
        }
        if (m.TryGetProperty("history", out var history) && history.GetArrayLength() > 0)
        {
            text.Append("history:\n");
            foreach (var h in history.EnumerateArray())
                text.Append(CultureInfo.InvariantCulture, $"  {Str(h, "at")}  {Str(h, "stage")}{(Str(h, "detail") is { } d ? ": " + d : "")}  from {Str(h, "remoteAddress") ?? "-"}\n");
        }
        return text.ToString();
    }

    /// <summary>An unreachable server or a bad flag is one line on stderr and exit 1, not a stack trace.</summary>
    private static async Task<int> Run(TextWriter stderr, Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception e) when (e is HttpRequestException or SettingsException or JsonException or TaskCanceledException)
        {
            await stderr.WriteLineAsync("error: " + e.Message);
            return 1;
        }
    }
}
