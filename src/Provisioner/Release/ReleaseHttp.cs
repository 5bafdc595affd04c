using System.Net;

namespace Provisioner.Release;

/// <summary>The HTTP client for artifact downloads: no overall timeout (a rootfs is large), but a connect timeout and
/// redirects (mirrors redirect to CDNs).</summary>
internal static class ReleaseHttp
{
    public static HttpClient CreateClient() => new(new SocketsHttpHandler
    {
        ConnectTimeout = TimeSpan.FromSeconds(30),
        AllowAutoRedirect = true,
        MaxAutomaticRedirections = 10,
        AutomaticDecompression = DecompressionMethods.None, // digests are over the bytes as served
        PooledConnectionLifetime = TimeSpan.FromMinutes(5),
    })
    {
        Timeout = Timeout.InfiniteTimeSpan,
        DefaultRequestHeaders = { { "User-Agent", "provisioner-release-sync" } },
    };
}
