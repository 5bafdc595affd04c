using System.Globalization;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Provisioner.Assets;
using Provisioner.Release;
using Provisioner.Primitives;

namespace Provisioner.Registry;

/// <summary>
/// A read-only OCI Distribution registry (distribution-spec v1.1 "pull" conformance) over the release store:
/// <c>GET/HEAD /v2/</c>, <c>/v2/&lt;name&gt;/manifests/&lt;tag|digest&gt;</c>, <c>/v2/&lt;name&gt;/blobs/&lt;digest&gt;</c> and
/// <c>/v2/&lt;name&gt;/tags/list</c>. Hand-written: the spec is a handful of routes, and no server-side
/// implementation is in the package mirror. Names contain slashes (<c>k8s/kube-apiserver</c>), so the path is
/// taken as one catch-all and split from the right, where the operation's fixed words are.
/// Every write (push, delete, upload) is 405 <c>UNSUPPORTED</c>: images enter only through
/// <c>provisioner release import-image</c>, verified.
/// </summary>
internal static class RegistryEndpoints
{
    public const string ApiVersionHeader = "Docker-Distribution-API-Version";
    public const string DigestHeader = "Docker-Content-Digest";
    private const string ImmutableCache = "public, max-age=31536000, immutable";

    /// <summary>
    /// The repositories and the file server come from the request's services, so that mapping resolves nothing
    /// (the store and the assets directory are settings checked when the server starts).
    /// </summary>
    public static IEndpointRouteBuilder MapRegistry(this IEndpointRouteBuilder app)
    {
        static Task HandleAsync(HttpContext context) =>
            new Handler(context.RequestServices.GetRequiredService<ImageRepositories>(), context.RequestServices.GetRequiredService<AssetFileServer>())
                .HandleAsync(context);
        app.Map("/v2", HandleAsync);
        app.Map("/v2/{**rest}", HandleAsync);
        return app;
    }

    private sealed class Handler(ImageRepositories repositories, AssetFileServer files)
    {
        public async Task HandleAsync(HttpContext context)
        {
            var ct = context.RequestAborted;
            context.Response.Headers[ApiVersionHeader] = "registry/2.0";
            var method = context.Request.Method;
            if (!HttpMethods.IsGet(method) && !HttpMethods.IsHead(method))
            {
                context.Response.Headers.Allow = "GET, HEAD";
                await RegistryErrors.WriteAsync(context, StatusCodes.Status405MethodNotAllowed, RegistryErrors.Unsupported,
                    "this registry is read-only; import images with 'provisioner release import-image'", ct);
                return;
            }
            var rest = (context.Request.RouteValues["rest"] as string ?? "").TrimEnd('/');
            if (rest.Length == 0)
            {
                // The API version check: clients probe this before anything else.
                context.Response.ContentType = "application/json";
                context.Response.ContentLength = 2;
                if (HttpMethods.IsGet(method)) await context.Response.WriteAsync("{}", ct);
                return;
            }

            if (rest.EndsWith("/tags/list", StringComparison.Ordinal))
                await TagsAsync(context, rest[..^"/tags/list".Length], ct);
            else if (Split(rest, "/manifests/") is var (mName, reference))
                await ManifestAsync(context, mName, reference, ct);
            else if (Split(rest, "/blobs/") is var (bName, digest))
                await BlobAsync(context, bName, digest, ct);
            else
                await RegistryErrors.WriteAsync(context, StatusCodes.Status404NotFound, RegistryErrors.Unsupported,
                    $"'/v2/{rest}' is not a registry endpoint (manifests, blobs, tags/list)", ct);
        }

        /// <summary>"a/b/manifests/x" → ("a/b", "x"); the last segment never contains '/'.</summary>
        private static (string Name, string Last)? Split(string rest, string word)
        {
            var i = rest.LastIndexOf(word, StringComparison.Ordinal);
            if (i <= 0) return null;
            var last = rest[(i + word.Length)..];
            return last.Length == 0 || last.Contains('/') ? null : (rest[..i], last);
        }

        /// <summary>The repository, or null after answering NAME_INVALID / NAME_UNKNOWN.</summary>
        private async Task<RepositoryIndex?> RepositoryAsync(HttpContext context, string name, CancellationToken ct)
        {
            if (!ImageNames.IsValidName(name))
            {
                await RegistryErrors.WriteAsync(context, StatusCodes.Status400BadRequest, RegistryErrors.NameInvalid,
                    $"'{name}' is not a valid repository name", ct);
                return null;
            }
            var index = await repositories.FindAsync(name, ct);
            if (index is null)
                await RegistryErrors.WriteAsync(context, StatusCodes.Status404NotFound, RegistryErrors.NameUnknown,
                    $"repository '{name}' is not known to this registry", ct);
            return index;
        }

        private async Task ManifestAsync(HttpContext context, string name, string reference, CancellationToken ct)
        {
            if (await RepositoryAsync(context, name, ct) is not { } repo) return;
            Digest? digest;
            if (reference.Contains(':'))
            {
                if (!Digest.TryParse(reference, out digest, out var error))
                {
                    await RegistryErrors.WriteAsync(context, StatusCodes.Status400BadRequest, RegistryErrors.DigestInvalid, error, ct);
                    return;
                }
            }
            else if (!ImageNames.IsValidTag(reference))
            {
                await RegistryErrors.WriteAsync(context, StatusCodes.Status400BadRequest, RegistryErrors.ManifestInvalid,
                    $"'{reference}' is neither a tag nor a digest", ct);
                return;
            }
            else digest = repo.Tags.TryGetValue(reference, out var tagged) ? Digest.Parse(tagged) : null;

            if (digest is null || !repo.Manifests.TryGetValue(digest.ToString(), out var mediaType)
                || repositories.Store.Blob(digest) is not { } file)
            {
                await RegistryErrors.WriteAsync(context, StatusCodes.Status404NotFound, RegistryErrors.ManifestUnknown,
                    $"manifest '{reference}' is not in repository '{name}'", ct);
                return;
            }
            var bytes = await File.ReadAllBytesAsync(file.FullName, ct);
            var response = context.Response;
            response.StatusCode = StatusCodes.Status200OK;
            response.ContentType = mediaType;
            response.ContentLength = bytes.Length;
            response.Headers[DigestHeader] = digest.ToString();
            response.Headers.ETag = $"\"{digest}\"";
            // By digest the answer can never change; by tag it can (a re-import moves the tag).
            response.Headers.CacheControl = reference.Contains(':') ? ImmutableCache : "no-cache";
            if (HttpMethods.IsGet(context.Request.Method)) await response.Body.WriteAsync(bytes, ct);
        }

        private async Task BlobAsync(HttpContext context, string name, string digestText, CancellationToken ct)
        {
            if (await RepositoryAsync(context, name, ct) is not { } repo) return;
            if (!Digest.TryParse(digestText, out var digest, out var error))
            {
                await RegistryErrors.WriteAsync(context, StatusCodes.Status400BadRequest, RegistryErrors.DigestInvalid, error, ct);
                return;
            }
            if (!repo.Blobs.Contains(digest.ToString()) || repositories.Store.Blob(digest) is not { } file)
            {
                await RegistryErrors.WriteAsync(context, StatusCodes.Status404NotFound, RegistryErrors.BlobUnknown,
                    $"blob {digest} is not in repository '{name}'", ct);
                return;
            }
            context.Response.Headers[DigestHeader] = digest.ToString();
            // The asset server does Range, conditional requests, HEAD and sendfile; a blob never changes.
            await files.ServeFileAsync(context, file, ImmutableCache, ct);
        }

        private async Task TagsAsync(HttpContext context, string name, CancellationToken ct)
        {
            if (await RepositoryAsync(context, name, ct) is not { } repo) return;
            var query = context.Request.Query;
            int? n = null;
            if (query.TryGetValue("n", out var nText))
            {
                if (!int.TryParse(nText.ToString(), NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
                {
                    await RegistryErrors.WriteAsync(context, StatusCodes.Status400BadRequest, RegistryErrors.PaginationNumberInvalid,
                        $"n='{nText}' is not a non-negative integer", ct);
                    return;
                }
                n = parsed;
            }
            var last = query["last"].ToString();
            var after = repo.Tags.Keys.Order(StringComparer.Ordinal)
                .Where(t => last.Length == 0 || string.CompareOrdinal(t, last) > 0).ToList();
            var page = n is { } count ? after.Take(count).ToList() : after;
            if (n is > 0 && after.Count > page.Count)
                context.Response.Headers.Link = $"</v2/{name}/tags/list?n={n}&last={Uri.EscapeDataString(page[^1])}>; rel=\"next\"";
            var body = JsonSerializer.SerializeToUtf8Bytes(new { name, tags = page });
            context.Response.ContentType = "application/json";
            context.Response.ContentLength = body.Length;
            if (HttpMethods.IsGet(context.Request.Method)) await context.Response.Body.WriteAsync(body, ct);
        }
    }
}
