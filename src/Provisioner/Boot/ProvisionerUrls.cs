using Microsoft.AspNetCore.Http;
using Provisioner.Profiles;

namespace Provisioner.Boot;

/// <summary>The base URL written into scripts and configs a machine fetches next.</summary>
internal static class ProvisionerUrls
{
    /// <summary>
    /// The cluster's configured <c>provisionerUrl</c> when set; otherwise the scheme and host the machine
    /// itself used to reach us, which it can demonstrably reach again.
    /// </summary>
    public static string BaseFor(HttpContext context, ClusterSpec cluster) =>
        cluster.ProvisionerUrl is { } configured
            ? configured.GetLeftPart(UriPartial.Authority)
            : $"{context.Request.Scheme}://{context.Request.Host.ToUriComponent()}";
}
