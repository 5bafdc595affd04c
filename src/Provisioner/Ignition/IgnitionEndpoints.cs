using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Provisioner.Boot;
using Provisioner.Catalog;
using Provisioner.Cluster;
using Provisioner.Hosting;
using Provisioner.Inventory;
using Provisioner.Observability;
using Provisioner.Profiles;
using Provisioner.Rendering;

namespace Provisioner.Ignition;

/// <summary><c>GET /ignition</c>: a machine's rendered Ignition config, in the spec version it accepts.</summary>
public static class IgnitionEndpoints
{
    public static IEndpointRouteBuilder MapIgnitionEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/ignition", async (HttpContext context, CatalogStore catalog, IgnitionRenderer renderer, MachineRegistry registry, ClusterAssetService cluster,
            MachineStateStore machineState, ILoggerFactory loggers) =>
        {
            var snapshot = catalog.Current;
            if (!BootQuery.TryParse(context.Request.Query, out var query, out var error))
                return PlainText.Problem(StatusCodes.Status400BadRequest, error);
            if (MachineMatcher.Match(snapshot.Profiles, query) is not { } match)
                return PlainText.Problem(StatusCodes.Status404NotFound, $"no machine profile matches {query}");

            context.SetMachine(match.Machine.Name);
            var baseUrl = new Uri(ProvisionerUrls.BaseFor(context, snapshot.Profiles.Cluster) + "/");
            var (material, unavailable) = await cluster.TryMaterialForServingAsync(snapshot, match.Machine, context.RequestAborted);
            if (material is null) return PlainText.Problem(StatusCodes.Status503ServiceUnavailable, unavailable!);
            var config = renderer.Render(snapshot.Templates, snapshot.Profiles, match.Machine, baseUrl, material);
            var negotiated = IgnitionNegotiation.Choose(context.Request.Headers.Accept.ToString(), config);
            if (!negotiated.IsAcceptable)
                return PlainText.Problem(StatusCodes.Status406NotAcceptable, negotiated.NotAcceptableReason);

            var remote = context.Connection.RemoteIpAddress?.ToString();
            // On disk before the config leaves: the approver's first-join rule must hold across a restart (Ignition runs once).
            try { await machineState.RecordDeliveryAsync(match.Machine.Name, DeliveryKinds.Ignition, remote, context.RequestAborted); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                loggers.CreateLogger(typeof(IgnitionEndpoints)).LogError(e, "Cannot record the Ignition delivery to {Machine} in {File}", match.Machine.Name, machineState.FilePath);
                return PlainText.Problem(StatusCodes.Status503ServiceUnavailable, "the delivery cannot be recorded (details in the server log); try again");
            }
            registry.RecordKnown(match.Machine, query, BootStage.Ignition, remote, $"spec {IgnitionSpec.Format(negotiated.Version)}");
            context.Response.Headers.CacheControl = "no-store";
            return Results.Bytes(IgnitionJson.SerializeToUtf8(config.WithVersion(negotiated.Version)), negotiated.ContentType);
        });
        return app;
    }
}
