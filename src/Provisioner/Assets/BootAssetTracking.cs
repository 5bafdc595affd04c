using Microsoft.AspNetCore.Http;
using Provisioner.Catalog;
using Provisioner.Inventory;
using Provisioner.Observability;
using Provisioner.Profiles;

namespace Provisioner.Assets;

/// <summary>Which boot stage an asset fetch is, for machines that name themselves in the query.</summary>
internal static class BootAssetTracking
{
    /// <summary>
    /// Records <c>kernel</c>/<c>initrd</c> when the request carries the identity the iPXE script put in the
    /// URL and the path is that machine's kernel or initrd. Other fetches are not boot stages.
    /// </summary>
    public static void Record(HttpContext context, string path, CatalogStore catalog, MachineRegistry registry)
    {
        if (!context.Request.QueryString.HasValue || !BootQuery.TryParse(context.Request.Query, out var query, out _)) return;
        var profiles = catalog.Current.Profiles;
        if (MachineMatcher.Match(profiles, query) is not { } match) return;
        var boot = profiles.Roles[match.Machine.Role].Boot;
        var stage = path == boot.Kernel ? BootStage.Kernel : boot.Initrds.Contains(path) ? BootStage.Initrd : null;
        if (stage is null) return;
        context.SetMachine(match.Machine.Name);
        if (HttpMethods.IsGet(context.Request.Method) && !context.Request.Headers.Range.Any())
            registry.RecordKnown(match.Machine, query, stage, context.Connection.RemoteIpAddress?.ToString(), path);
    }
}
