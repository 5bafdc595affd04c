using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Provisioner.Boot;
using Provisioner.Catalog;
using Provisioner.Inventory;
using Provisioner.Observability;
using Provisioner.Profiles;
using Provisioner.Primitives;
using Provisioner.Approval;

namespace Provisioner.Api;

/// <summary>Operator- and machine-facing API: health, metrics, machines, progress reports.</summary>
internal static partial class ApiEndpoints
{
    public const int MaxProgressBodyBytes = 4096;

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = true,
        // An API for operators and scripts, never embedded in HTML: keep quotes and '+' readable.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static IEndpointRouteBuilder MapApiEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/healthz", () => Results.Text("ok\n"));

        app.MapGet("/readyz", (CatalogStore catalog, ApproverStatus approver) =>
        {
            var snapshot = catalog.Current;
            return Results.Json(new
            {
                status = "ready",
                profiles = new
                {
                    loadedAt = snapshot.LoadedAt,
                    machines = snapshot.Profiles.Machines.Length,
                    roles = snapshot.Profiles.Roles.Count,
                    lastReloadProblems = catalog.LastReloadProblems.Select(p => p.ToString()).ToArray(),
                },
                approver = new { state = approver.State, detail = approver.Detail },
            }, Json);
        });

        app.MapGet("/metrics", async (HttpContext context, ProvisionerMetrics metrics, CatalogStore catalog, MachineRegistry registry, MachineStateStore machineState) =>
        {
            UpdateMachineGauge(metrics, catalog.Current.Profiles, registry, machineState);
            context.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
            await metrics.WriteAsync(context.Response.Body, context.RequestAborted);
        });

        app.MapGet("/api/v1/machines", (CatalogStore catalog, MachineRegistry registry, MachineStateStore machineState) =>
            Results.Json(new { machines = MachineViews(catalog.Current.Profiles, registry, machineState) }, Json)).RequireOperator();

        // State (disabled, waiting-for-api, standby, leader), leader, last decisions with reasons.
        app.MapGet("/api/v1/approver", (ApproverStatus status) => Results.Json(status.View(), Json)).RequireOperator();

        app.MapPost("/api/v1/progress", async (HttpContext context, CatalogStore catalog, MachineRegistry registry, MachineStateStore machineState,
            ILoggerFactory loggers) =>
        {
            var (report, error) = await ReadProgressAsync(context.Request, context.RequestAborted);
            if (report is null) return PlainText.Problem(StatusCodes.Status400BadRequest, error!);
            var query = new MachineQuery(report.ParsedMac, null, null, null);
            var machine = report.Machine is { } name
                ? catalog.Current.Profiles.FindMachine(name)
                : MachineMatcher.Match(catalog.Current.Profiles, query)?.Machine;
            if (machine is null)
                return PlainText.Problem(StatusCodes.Status404NotFound, $"no machine profile matches {(report.Machine is null ? query.ToString() : "name " + report.Machine)}");
            // Only the machine itself may report for it: with the report key its last delivered config carries.
            if (ReportKeyProblem(context.Request, machine.Name, machineState.Get(machine.Name)) is { } unauthorized)
            {
                context.Response.Headers.WWWAuthenticate = "Bearer realm=\"provisioner-progress\"";
                return PlainText.Problem(StatusCodes.Status401Unauthorized, unauthorized);
            }
            context.SetMachine(machine.Name);
            if (report.Stage == InstallMode.InstalledStage)
            {
                // Persisted before the answer: from now on the machine is installed, whatever the server does next.
                if (await InstallMode.RecordInstalledAsync(catalog.Current.Profiles, machine, machineState,
                    loggers.CreateLogger(typeof(ApiEndpoints)), context.RequestAborted) is { } unrecorded)
                    return unrecorded;
            }
            registry.RecordKnown(machine, query, report.Stage!, context.Connection.RemoteIpAddress?.ToString(), report.Detail);
            return Results.NoContent();
        });
        return app;
    }

    /// <summary>Why the request may not report for <paramref name="machine"/>, or null when it carries that machine's report key.</summary>
    private static string? ReportKeyProblem(HttpRequest request, string machine, MachineState? state)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return $"progress reports need Authorization: Bearer <report key>, the key in {IgnitionEndpoints.ReportKeyPath} on {machine}";
        if (state?.ReportKeyHash is null)
            return $"{machine} has no report key yet: it gets one with its config over TLS";
        return MachineSecrets.Matches(header["Bearer ".Length..].Trim(), state.ReportKeyHash)
            ? null
            : $"the bearer token is not {machine}'s report key (a key from an earlier provisioning round no longer works)";
    }

    public sealed record ProgressReport(string? Machine, string? Mac, string? Stage, string? Detail)
    {
        [JsonIgnore] public MacAddress? ParsedMac { get; init; }
    }

    [GeneratedRegex("^[a-z0-9][a-z0-9.-]{0,62}$")]
    private static partial Regex StageName();

    private static async Task<(ProgressReport?, string?)> ReadProgressAsync(HttpRequest request, CancellationToken ct)
    {
        if (request.ContentLength is > MaxProgressBodyBytes)
            return (null, $"body larger than {MaxProgressBodyBytes} bytes");
        if (!(request.ContentType ?? "").StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            return (null, "expected Content-Type: application/json");
        var buffer = new byte[MaxProgressBodyBytes + 1];
        int total = 0, read;
        while ((read = await request.Body.ReadAsync(buffer.AsMemory(total), ct)) > 0)
        {
            total += read;
            if (total > MaxProgressBodyBytes) return (null, $"body larger than {MaxProgressBodyBytes} bytes");
        }
        ProgressReport? report;
        try { report = JsonSerializer.Deserialize<ProgressReport>(buffer.AsSpan(0, total), Json); }
        catch (JsonException e) { return (null, "body is not valid JSON: " + e.Message); }
        if (report is null) return (null, "body is empty");
        if (report.Stage is null || !StageName().IsMatch(report.Stage))
            return (null, "'stage' is required: lower-case letters, digits, '.' and '-', at most 63 characters");
        if (report.Detail is { Length: > 1024 }) return (null, "'detail' is longer than 1024 characters");
        if (report.Machine is null && report.Mac is null) return (null, "one of 'machine' or 'mac' is required");
        if (report.Mac is not null)
        {
            if (!MacAddress.TryParse(report.Mac, out var mac)) return (null, $"mac '{report.Mac}' is not a MAC address");
            report = report with { ParsedMac = mac };
        }
        return (report, null);
    }

    private static void UpdateMachineGauge(ProvisionerMetrics metrics, ProfileSet profiles, MachineRegistry registry, MachineStateStore machineState)
    {
        var views = MachineViews(profiles, registry, machineState);
        var states = views.GroupBy(m => m.State).ToDictionary(g => g.Key, g => g.Count());
        foreach (var state in new[] { "pending", "discovered", BootStage.Ipxe, BootStage.Kernel, BootStage.Initrd, BootStage.Ignition }.Union(states.Keys))
            metrics.Machines.WithLabels(state).Set(states.GetValueOrDefault(state));
        var phases = views.Where(v => v.Phase is not null).GroupBy(v => v.Phase!).ToDictionary(g => g.Key, g => g.Count());
        foreach (var phase in MachinePhases.All)
            metrics.MachinePhases.WithLabels(phase).Set(phases.GetValueOrDefault(phase));
        metrics.DiscoveredEvicted.IncTo(registry.DiscoveredEvicted);
    }

    /// <summary>
    /// One machine as operators see it: <see cref="State"/> is the last boot stage seen by this process,
    /// <see cref="Phase"/> and <see cref="Deliveries"/> the persisted provisioning state (they survive restarts).
    /// </summary>
    public sealed record MachineView(string? Name, bool Known, string? Role, string State, string? Mac, string? Uuid,
        string? Serial, string? Hostname, DateTimeOffset? LastSeen, IReadOnlyList<StageEvent> History,
        string? Phase = null, DateTimeOffset? JoinedAt = null, IReadOnlyList<Delivery>? Deliveries = null,
        string? InstallDisk = null, InstallProgress? Install = null);

    public static IReadOnlyList<MachineView> MachineViews(ProfileSet profiles, MachineRegistry registry, MachineStateStore machineState)
    {
        var views = new List<MachineView>();
        foreach (var m in profiles.Machines)
        {
            var seen = registry.Get(m.Name);
            var persisted = machineState.Get(m.Name) ?? MachineState.New(m.Name);
            views.Add(new MachineView(m.Name, true, m.Role, seen?.Last?.Stage ?? "pending",
                m.Select.Macs.IsEmpty ? seen?.LastQuery.Mac?.ToString() : m.Select.Macs[0].ToString(),
                m.Select.Uuid?.ToString(), m.Select.Serial, m.Select.Hostname, seen?.Last?.At, seen?.History ?? [],
                persisted.Phase, persisted.JoinedAt, persisted.Deliveries, profiles.InstallDiskOf(m),
                persisted.InstallingThisRound is { } installing ? new InstallProgress(installing, persisted.InstalledThisRound) : null));
        }
        // A discovered machine an operator has since added to the profiles is adopted: it is listed as known only.
        foreach (var d in registry.All.Where(o => !o.Known && MachineMatcher.Match(profiles, o.LastQuery) is null))
            views.Add(new MachineView(null, false, null, "discovered", d.LastQuery.Mac?.ToString(), d.LastQuery.Uuid?.ToString(),
                d.LastQuery.Serial, d.LastQuery.Hostname, d.Last?.At, d.History));
        return views;
    }
}
