using System.Collections.Frozen;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

using Provisioner.Api;
using Provisioner.Primitives;

namespace Provisioner.WebConsole;

/// <summary>
/// The operators' web console: the page at <c>/</c> (HTML, CSS and JS embedded in the program: no CDN, no build step),
/// <c>GET /api/v1/console</c> (the board as one JSON document) and <c>GET /api/v1/events</c> (the same document pushed
/// by Server-Sent Events on connect and on every change). Read-only: there is no authentication to decide who may act.
/// </summary>
internal static class ConsoleHosting
{
    /// <summary>The console has no settings; its timings are <see cref="ConsoleOptions"/>, the defaults unless registered before.</summary>
    public static IServiceCollection AddConsole(this IServiceCollection services)
    {
        services.TryAddSingleton(new ConsoleOptions());
        services.AddSingleton<ConsoleSnapshots>();
        services.AddSingleton<ConsoleEvents>();
        services.AddHostedService(sp => sp.GetRequiredService<ConsoleEvents>());
        return services;
    }

    public static IEndpointRouteBuilder MapConsole(this IEndpointRouteBuilder app)
    {
        app.MapGet("/", (HttpContext context) => ServeAsset(context, "index.html"));
        app.MapGet("/console/{name}", (HttpContext context, string name) => ServeAsset(context, name));

        app.MapGet("/api/v1/console", async (ConsoleSnapshots snapshots, CancellationToken ct) =>
            Results.Text(ConsoleSnapshots.Serialize(await snapshots.BuildAsync(ct)), "application/json; charset=utf-8")).RequireOperator();

        // The page itself holds nothing; what it shows (every MAC, UUID and decision) is the operator's.
        app.MapGet("/api/v1/events", StreamAsync).RequireOperator();
        return app;
    }

    /// <summary>
    /// One SSE client: the current snapshot at once, then each newer one the feed offers, and a comment every
    /// <see cref="ConsoleOptions.KeepAlive"/>. Ends when the client goes (RequestAborted) or the server stops, which
    /// would otherwise wait for open streams until its shutdown timeout.
    /// </summary>
    private static async Task StreamAsync(HttpContext context, ConsoleEvents events, ConsoleSnapshots snapshots, ConsoleOptions options,
        TimeProvider time, IHostApplicationLifetime lifetime)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, lifetime.ApplicationStopping);
        var ct = stop.Token;
        var response = context.Response;
        response.ContentType = "text/event-stream; charset=utf-8";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no"; // a reverse proxy must not hold events back
        // Subscribed before the first snapshot is built, so a change in between is not missed (at worst sent twice).
        using var subscription = events.Subscribe();
        try
        {
            // EventSource reconnects by itself; two seconds keeps a restarted server's console current quickly.
            await response.WriteAsync("retry: 2000\n\n", ct);
            await WriteEventAsync(response, ConsoleSnapshots.Serialize(await snapshots.BuildAsync(ct)), ct);
            Task<bool>? next = null;
            while (!ct.IsCancellationRequested)
            {
                next ??= subscription.Reader.WaitToReadAsync(ct).AsTask();
                var keepAlive = Task.Delay(options.KeepAlive, time, ct);
                if (await Task.WhenAny(next, keepAlive) == keepAlive)
                {
                    await keepAlive; // throws when cancelled rather than writing to a gone client
                    await response.WriteAsync(": keep-alive\n\n", ct);
                    await response.Body.FlushAsync(ct);
                    continue;
                }
                if (!await next) break;
                next = null;
                string? newest = null;
                while (subscription.Reader.TryRead(out var item)) newest = item;
                if (newest is not null) await WriteEventAsync(response, newest, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        catch (IOException) { } // the client went away mid-write
    }

    private static async Task WriteEventAsync(HttpResponse response, string json, CancellationToken ct)
    {
        await response.WriteAsync("event: snapshot\ndata: ", ct);
        await response.WriteAsync(json, ct);
        await response.WriteAsync("\n\n", ct);
        await response.Body.FlushAsync(ct);
    }

    private sealed record Asset(byte[] Bytes, string ContentType, string ETag);

    private static readonly FrozenDictionary<string, Asset> Assets = LoadAssets();

    private static FrozenDictionary<string, Asset> LoadAssets()
    {
        const string prefix = "console/";
        var assembly = typeof(ConsoleHosting).Assembly;
        var assets = new Dictionary<string, Asset>(StringComparer.Ordinal);
        foreach (var resource in assembly.GetManifestResourceNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)))
        {
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            var bytes = copy.ToArray();
            var type = Path.GetExtension(resource) switch
            {
                ".html" => "text/html; charset=utf-8",
                ".css" => "text/css; charset=utf-8",
                ".js" => "text/javascript; charset=utf-8",
                ".svg" => "image/svg+xml",
                _ => "application/octet-stream",
            };
            assets[resource[prefix.Length..]] = new Asset(bytes, type, $"\"{Convert.ToHexStringLower(SHA256.HashData(bytes))[..16]}\"");
        }
        return assets.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static IResult ServeAsset(HttpContext context, string name)
    {
        if (!Assets.TryGetValue(name, out var asset))
            return PlainText.Problem(StatusCodes.Status404NotFound, $"the console has no file '{name}'");
        var headers = context.Response.Headers;
        // Revalidated on every load (cheap with the ETag): an upgraded server must never run with an old script.
        headers.CacheControl = "no-cache";
        headers.ETag = asset.ETag;
        headers.XContentTypeOptions = "nosniff";
        // Everything comes from this server; no inline script, so injected markup could not run any.
        headers.ContentSecurityPolicy = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'";
        if (context.Request.Headers.IfNoneMatch == asset.ETag) return Results.StatusCode(StatusCodes.Status304NotModified);
        return Results.Bytes(asset.Bytes, asset.ContentType);
    }
}
