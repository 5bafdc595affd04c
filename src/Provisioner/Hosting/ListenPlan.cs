using System.Net;
using Microsoft.Extensions.Logging;
using Provisioner.Boot;
using Provisioner.Catalog;

namespace Provisioner.Hosting;

/// <summary>
/// Where the server listens: the given addresses, else the defaults, which follow the profiles' provisionerUrl.
/// Decided when the server starts rather than while it is composed: Kestrel reads its options (and so this plan)
/// only when it is created at start, after the settings were checked, and the catalog it needs is loaded then.
/// </summary>
internal sealed record ListenPlan(IReadOnlyList<ListenAddress> Http, IReadOnlyList<ListenAddress> Tls)
{
    public ListenEndpoints Endpoints =>
        new([.. Http.Select(l => new IPEndPoint(l.Address, l.Port))], [.. Tls.Select(l => new IPEndPoint(l.Address, l.Port))]);

    public static ListenPlan Decide(ServerOptions options, CatalogStore catalog, ILogger logger)
    {
        string? warning = null;
        var http = options.Listen.Count > 0 ? options.Listen : ProvisionerServer.DefaultListen(catalog.Current.Profiles.Cluster, out warning);
        var tls = options.ListenTls.Count > 0 ? options.ListenTls : ProvisionerServer.DefaultListenTls(http);
        if (warning is not null) logger.LogWarning("{Warning}", warning);
        return new ListenPlan(http, tls);
    }
}
