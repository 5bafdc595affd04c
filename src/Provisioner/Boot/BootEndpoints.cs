using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Provisioner.Catalog;
using Provisioner.Inventory;
using Provisioner.Observability;
using Provisioner.Profiles;
using Provisioner.Release;
using Provisioner.Primitives;

namespace Provisioner.Boot;

/// <summary><c>GET /boot.ipxe</c> and <c>GET /ipxe</c>: the network-boot entry points.</summary>
internal static class BootEndpoints
{
    public static IEndpointRouteBuilder MapBootEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/boot.ipxe", (HttpContext context, CatalogStore catalog) =>
            Script(ProvisionerUrls.BaseFor(context, catalog.Current.Profiles.Cluster), IpxeScripts.Chain));

        var queries = new MatchedQueries();
        app.MapGet("/ipxe", async (HttpContext context, CatalogStore catalog, MachineRegistry registry, ContentStore releaseStore, PreparedIpxe scripts,
            MachineStateStore machineState, SecretDelivery delivery) =>
        {
            var snapshot = catalog.Current;
            var baseUrl = ProvisionerUrls.BaseFor(context, snapshot.Profiles.Cluster);
            var (query, match, error) = queries.Match(snapshot, context.Request);
            if (error is not null) return PlainText.Problem(StatusCodes.Status400BadRequest, error);

            var remote = context.Connection.RemoteIpAddress?.ToString();
            if (match is null)
            {
                registry.RecordDiscovered(query!, BootStage.Ipxe, remote);
                context.SetMachine("unknown:" + query!.DiscoveryKey);
                return Script(baseUrl, b => IpxeScripts.Unknown(b, query, BootQuery.ToQueryString(query)));
            }
            var matchedBy = match.Description;
            context.SetMachine(match.Machine.Name);
            var installDisk = snapshot.Profiles.InstallDiskOf(match.Machine);
            if (installDisk is not null && machineState.Get(match.Machine.Name) is { } state && InstallMode.BootsFromDisk(snapshot.Profiles, match.Machine, state))
            {
                // Installed (or being installed): its disk, not the network; nothing is fetched, nothing installs again.
                registry.RecordKnown(match.Machine, query!, BootStage.Ipxe, remote, $"{matchedBy}; boot from disk {installDisk} ({state.Phase})");
                context.Response.Headers.CacheControl = "no-store";
                return Results.Text(IpxeScripts.LocalBoot(match.Machine, snapshot.Profiles.Roles[match.Machine.Role], installDisk, state.Phase), IpxeScripts.ContentType);
            }
            registry.RecordKnown(match.Machine, query!, BootStage.Ipxe, remote, installDisk is null ? matchedBy : $"{matchedBy}; install to {installDisk}");
            var script = scripts.For(snapshot, match.Machine, query!, baseUrl, context.Request, releaseStore);
            // A script that boots the machine carries a fresh one-time ticket for its real config; one that only
            // retries (an artifact still downloading) mints nothing. Each ticketed script is new, so no ETag.
            if (!script.NeedsTicket)
            {
                context.Response.Headers.ETag = script.Body.ETag;
                if (ETags.NoneMatchFails(context.Request, script.Body.ETag)) return Results.StatusCode(StatusCodes.Status304NotModified);
                return Results.Bytes(script.Body.Bytes, IpxeScripts.ContentType);
            }
            var ticket = await delivery.IssueTicketAsync(snapshot.Profiles.Roles[match.Machine.Role], match.Machine, installs: installDisk is not null, context.Connection.RemoteIpAddress, context.RequestAborted);
            context.Response.Headers.CacheControl = "no-store";
            return Results.Bytes(script.WithTicket(ticket), IpxeScripts.ContentType);
        });
        return app;
    }

    private static IResult Script(string baseUrl, Func<string, string> build) =>
        Results.Text(build(baseUrl), IpxeScripts.ContentType);
}
