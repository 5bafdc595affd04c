using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Provisioner.Assets;
using Provisioner.Primitives;

namespace Provisioner.Pxe;

/// <summary>
/// <c>GET/HEAD /pxe/{name}</c>: the iPXE binaries over HTTP, for UEFI HTTP boot clients that ProxyDHCP points here.
/// Only the well-known names are served, from the resolved iPXE files, never an arbitrary path.
/// </summary>
internal static class PxeHttp
{
    public const string PathPrefix = "pxe/";

    /// <param name="binaries">The resolved files, looked up from the request's services (they are found when the server starts).</param>
    public static IEndpointConventionBuilder MapPxeBinaries(this IEndpointRouteBuilder endpoints, Func<IServiceProvider, IReadOnlyDictionary<string, string>> binaries) =>
        endpoints.MapMethods("/" + PathPrefix + "{name}", [HttpMethods.Get, HttpMethods.Head], (HttpContext context, string name, AssetFileServer server) =>
        {
            var files = binaries(context.RequestServices);
            if (!files.TryGetValue(name, out var path) || Tftp.TftpFileResolver.RealPath(Path.GetFullPath(path)) is not { } real)
                return PlainText.Problem(StatusCodes.Status404NotFound, $"no iPXE binary '{name}' (served: {string.Join(", ", files.Keys)})")
                    .ExecuteAsync(context);
            // Real path: on Debian ipxe.efi is a symlink, and FileInfo of a link reports the link's own length.
            return server.ServeFileAsync(context, new FileInfo(real), "no-cache", context.RequestAborted);
        });
}
