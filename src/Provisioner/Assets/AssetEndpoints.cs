namespace Provisioner.Assets;

public static class AssetEndpoints
{
    /// <summary>Maps GET and HEAD <c>/assets/{**path}</c> to <paramref name="server"/>.</summary>
    public static IEndpointConventionBuilder MapAssets(this IEndpointRouteBuilder endpoints, AssetFileServer server) =>
        endpoints.MapMethods("/assets/{**path}", [HttpMethods.Get, HttpMethods.Head],
            (HttpContext context) => server.ServeAsync(context, context.Request.RouteValues["path"] as string, context.RequestAborted));
}
