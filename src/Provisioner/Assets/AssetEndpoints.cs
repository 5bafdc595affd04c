namespace Provisioner.Assets;

internal static class AssetEndpoints
{
    /// <summary>
    /// Maps GET and HEAD <c>/assets/{**path}</c> to <paramref name="server"/>. <paramref name="onRequest"/>,
    /// when given, sees each request first (the server uses it to record which machine fetched its kernel).
    /// </summary>
    public static IEndpointConventionBuilder MapAssets(this IEndpointRouteBuilder endpoints, AssetFileServer server,
        Action<HttpContext, string>? onRequest = null) =>
        endpoints.MapMethods("/assets/{**path}", [HttpMethods.Get, HttpMethods.Head], (HttpContext context) =>
        {
            var path = context.Request.RouteValues["path"] as string;
            if (onRequest is not null && path is not null) onRequest(context, path);
            return server.ServeAsync(context, path, context.RequestAborted);
        });
}
