using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Provisioner.Catalog;
using Provisioner.Inventory;
using Provisioner.Tokens;
using Provisioner.Primitives;

namespace Provisioner.Api;

/// <summary>What a reprovision did, for the operator who asked.</summary>
internal sealed record ReprovisionResult(string Machine, string Phase, IReadOnlyList<string> RevokedTokens, string Note);

/// <summary>
/// <c>POST /api/v1/machines/{name}/reprovision</c> (operator only): the machine's next boot provisions it afresh. A new
/// round starts in its persisted state (no longer joined, earlier deliveries are history) and its bootstrap tokens
/// are revoked, so the next config it fetches carries a fresh one and nothing handed out before still works.
/// </summary>
internal static class ReprovisionEndpoint
{
    public static IEndpointRouteBuilder MapReprovision(this IEndpointRouteBuilder app)
    {
        app.MapPost("/api/v1/machines/{name}/reprovision", async (string name, HttpContext context, CatalogStore catalog, MachineStateStore machineState,
            BootstrapTokenStore tokens, ILoggerFactory loggers) =>
        {
            // A JSON body makes a browser ask first (CORS preflight), so another site cannot make an operator's
            // browser on the bootstrap host post here from loopback.
            if (!(context.Request.ContentType ?? "").StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
                return PlainText.Problem(StatusCodes.Status415UnsupportedMediaType, "expected Content-Type: application/json");
            if (catalog.Current.Profiles.FindMachine(name) is not { } machine)
                return PlainText.Problem(StatusCodes.Status404NotFound, $"no machine named '{name}' in the profiles");

            var revoked = await tokens.RevokeAsync([.. tokens.ForMachine(machine.Name).Select(t => t.Id)], context.RequestAborted);
            await machineState.ReprovisionAsync(machine.Name, context.RequestAborted);
            loggers.CreateLogger(typeof(ReprovisionEndpoint)).LogWarning(
                "Machine {Machine} reprovisioned by {Client}: {Count} bootstrap token(s) revoked; its next boot provisions it afresh",
                machine.Name, context.Connection.RemoteIpAddress, revoked.Length);
            var result = new ReprovisionResult(machine.Name, machineState.Get(machine.Name)!.Phase, [.. revoked.Select(t => t.Id)],
                "If its Node still exists, delete it (kubectl delete node) so the machine can join again with its new token.");
            return Results.Json(result, ApiEndpoints.Json);
        }).RequireOperator();
        return app;
    }
}
