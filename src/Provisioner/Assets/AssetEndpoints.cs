namespace Provisioner.Assets;

internal static class AssetEndpoints
{
    /// <summary>
    /// Maps GET and HEAD <c>/assets/{**path}</c> to <paramref name="server"/>. <paramref name="onRequest"/>,
    /// when given, sees each request first (the server uses it to record which machine fetched its kernel).
    /// </summary>
    public static IEndpointConventionBuilder MapAssets(this IEndpointRouteBuilder endpoints, AssetFileServer server,
        Action<HttpContext, string>? onRequest = null) =>
        endpoints.MapAssets(_ => server, onRequest);

    /// <summary>
    /// The same, with the server from the request's services (<see cref="AssetsHosting.AddAssets"/>): it is not
    /// resolved while the endpoints are mapped, so composing the server reads no setting that is checked at start.
    /// </summary>
    public static IEndpointConventionBuilder MapAssets(this IEndpointRouteBuilder endpoints, Action<HttpContext, string>? onRequest = null) =>
        endpoints.MapAssets(services => services.GetRequiredService<AssetFileServer>(), onRequest);

    private static IEndpointConventionBuilder MapAssets(this IEndpointRouteBuilder endpoints, Func<IServiceProvider, AssetFileServer> server,
        Action<HttpContext, string>? onRequest) =>
        endpoints.MapMethods("/assets/{**path}", [HttpMethods.Get, HttpMethods.Head], (HttpContext context) =>
        {
            var path = context.Request.RouteValues["path"] as string;
            if (onRequest is not null && path is not null) onRequest(context, path);
            return server(context.RequestServices).ServeAsync(context, path, context.RequestAborted);
        });
}
