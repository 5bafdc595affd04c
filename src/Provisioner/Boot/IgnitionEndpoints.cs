using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Provisioner.Boot;
using Provisioner.Catalog;
using Provisioner.Inventory;
using Provisioner.Observability;
using Provisioner.Primitives;

using Provisioner.Ignition;

namespace Provisioner.Boot;

/// <summary>
/// <c>GET /ignition</c>: a machine's rendered Ignition config, in the spec version it accepts. The config is prepared
/// ahead of the request (<see cref="PreparedIgnition"/>); the request matches the machine, negotiates the version,
/// records the delivery and sends the prepared bytes with their ETag.
/// </summary>
public static class IgnitionEndpoints
{
    public static IEndpointRouteBuilder MapIgnitionEndpoints(this IEndpointRouteBuilder app)
    {
        var queries = new MatchedQueries();
        app.MapGet("/ignition", async (HttpContext context, CatalogStore catalog, PreparedIgnition prepared, MachineRegistry registry,
            MachineStateStore machineState, TimeProvider time, ILoggerFactory loggers) =>
        {
            var snapshot = catalog.Current;
            var (query, match, error) = queries.Match(snapshot, context.Request);
            if (error is not null) return PlainText.Problem(StatusCodes.Status400BadRequest, error);
            if (match is null) return PlainText.Problem(StatusCodes.Status404NotFound, $"no machine profile matches {query}");

            context.SetMachine(match.Machine.Name);
            var baseUrl = ProvisionerUrls.BaseFor(context, snapshot.Profiles.Cluster);
            var (config, unavailable) = await prepared.GetAsync(snapshot, match.Machine, baseUrl, context.RequestAborted);
            if (config is null) return PlainText.Problem(StatusCodes.Status503ServiceUnavailable, unavailable!);
            var negotiated = config.Negotiate(context.Request.Headers.Accept.ToString());
            if (!negotiated.IsAcceptable)
                return PlainText.Problem(StatusCodes.Status406NotAcceptable, negotiated.NotAcceptableReason);
            var body = config.Body(negotiated.Version);
            var remote = context.Connection.RemoteIpAddress?.ToString();
            var spec = $"spec {IgnitionSpec.Format(negotiated.Version)}";
            if (ETags.NoneMatchFails(context.Request, body.ETag))
            {
                // The client holds exactly these bytes already: nothing is delivered, so nothing is recorded as delivered.
                registry.RecordKnown(match.Machine, query!, BootStage.Ignition, remote, spec + ", not modified");
                context.Response.Headers.CacheControl = "no-store";
                context.Response.Headers.ETag = body.ETag;
                return Results.StatusCode(StatusCodes.Status304NotModified);
            }

            // On disk before the config leaves: the approver's first-join rule must hold across a restart (Ignition runs
            // once). A repeat from the same address within a second is on disk already (see RepeatDeliveries).
            if (!RepeatDeliveries.AlreadyRecorded(machineState.Get(match.Machine.Name), DeliveryKinds.Ignition, remote, time.GetUtcNow()))
            {
                try { await machineState.RecordDeliveryAsync(match.Machine.Name, DeliveryKinds.Ignition, remote, context.RequestAborted); }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
                {
                    loggers.CreateLogger(typeof(IgnitionEndpoints)).LogError(e, "Cannot record the Ignition delivery to {Machine} in {File}", match.Machine.Name, machineState.FilePath);
                    return PlainText.Problem(StatusCodes.Status503ServiceUnavailable, "the delivery cannot be recorded (details in the server log); try again");
                }
            }
            // Install mode: this is the installer's fetch; from now on the machine's PXE boots go to its disk.
            if (await InstallMode.RecordInstallerFetchAsync(snapshot.Profiles, match.Machine, machineState,
                loggers.CreateLogger(typeof(IgnitionEndpoints)), context.RequestAborted) is { } unrecorded)
                return unrecorded;
            registry.RecordKnown(match.Machine, query!, BootStage.Ignition, remote, spec);
            context.Response.Headers.CacheControl = "no-store";
            context.Response.Headers.ETag = body.ETag;
            return Results.Bytes(body.Bytes, negotiated.ContentType);
        });
        return app;
    }
}
