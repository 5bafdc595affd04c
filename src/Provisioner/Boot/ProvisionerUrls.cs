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
            ? Authority(configured)
            : $"{context.Request.Scheme}://{context.Request.Host.ToUriComponent()}";

    /// <summary><c>scheme://host:port</c> of <paramref name="url"/>, worked out once per URL (every boot request asks).</summary>
    public static string Authority(Uri url)
    {
        var last = _last;
        if (last is not null && ReferenceEquals(last.Url, url)) return last.Authority;
        var authority = url.GetLeftPart(UriPartial.Authority);
        _last = new Known(url, authority);
        return authority;
    }

    private sealed record Known(Uri Url, string Authority);

    private static volatile Known? _last;
}
