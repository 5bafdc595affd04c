using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Provisioner.Assets;
using Provisioner.Catalog;
using Provisioner.Inventory;
using Provisioner.Profiles;
using Provisioner.Primitives;

namespace Provisioner.Release;

/// <summary>
/// Boot artifacts from the release store: <c>/assets/sha256/&lt;hex&gt;</c> (content-addressed, cacheable forever) and
/// <c>/release/artifacts/&lt;arch&gt;/&lt;name&gt;</c> (by the release's name), through the asset server's Range,
/// conditional-request and sendfile machinery; <c>/api/v1/release</c> reports what is mirrored.
/// </summary>
internal static class ReleaseEndpoints
{
    public const string ImmutableCache = "public, max-age=31536000, immutable";

    public static IEndpointRouteBuilder MapReleaseArtifacts(this IEndpointRouteBuilder app)
    {
        string[] getHead = [HttpMethods.Get, HttpMethods.Head];

        app.MapMethods("/assets/sha256/{hex}", getHead, async (HttpContext context, string hex, ContentStore store, AssetFileServer files,
            CatalogStore catalog, MachineRegistry registry) =>
        {
            if (!Digest.TryParseHex(hex, out var digest))
            {
                await PlainText.Problem(StatusCodes.Status400BadRequest, $"'{hex}' is not a sha256 (64 lower-case hex digits)").ExecuteAsync(context);
                return;
            }
            if (store.Blob(digest) is not { } file)
            {
                await PlainText.Problem(StatusCodes.Status404NotFound, $"sha256:{hex} is not in the release store").ExecuteAsync(context);
                return;
            }
            RecordBootStage(context, digest, catalog, registry);
            await files.ServeFileAsync(context, file, ImmutableCache, context.RequestAborted);
        });

        app.MapMethods("/release/artifacts/{arch}/{**name}", getHead, async (HttpContext context, string arch, string name, ContentStore store,
            AssetFileServer files, CatalogStore catalog) =>
        {
            var release = catalog.Current.Profiles.Release;
            if (release?.FindArtifact(name, arch) is not { } artifact)
            {
                await PlainText.Problem(StatusCodes.Status404NotFound, $"the release has no artifact '{name}' for {arch}").ExecuteAsync(context);
                return;
            }
            if (store.Blob(artifact.Sha256) is not { } file)
            {
                context.Response.Headers.RetryAfter = "30";
                await PlainText.Problem(StatusCodes.Status404NotFound, $"artifact {artifact} (sha256 {artifact.Sha256.Hex}) is not downloaded and verified yet").ExecuteAsync(context);
                return;
            }
            // The name may point at other content after a release change; the digest URL is the cacheable one.
            await files.ServeFileAsync(context, file, "no-cache", context.RequestAborted);
        });

        app.MapGet("/api/v1/release", async (CatalogStore catalog, ContentStore store, ImageRepositories repositories, CancellationToken ct) =>
            Results.Json(await StatusAsync(catalog, store, repositories, ct)));
        return app;
    }

    /// <summary>What <c>/api/v1/release</c> shows (the web console's change feed shows the same): each image and artifact, present or not.</summary>
    public static async Task<object> StatusAsync(CatalogStore catalog, ContentStore store, ImageRepositories repositories, CancellationToken ct)
    {
        if (catalog.Current.Profiles.Release is not { } release)
            return new { release = (object?)null, store = store.Root };
        var images = new List<object>();
        foreach (var i in release.Images)
        {
            // Served under the upstream name (registry/repository) so the machines' mirror configuration finds it.
            var repo = await repositories.FindAsync($"{i.Registry}/{i.Repository}", ct);
            images.Add(new
            {
                component = i.Component, image = i.Reference, digest = i.Digest.ToString(),
                present = repo is not null && repo.Manifests.ContainsKey(i.Digest.ToString()),
            });
        }
        return new
        {
            release = new
            {
                kubernetesVersion = release.KubernetesVersion,
                images,
                artifacts = release.Artifacts.Select(a => new
                {
                    name = a.Name, architecture = a.Architecture, source = a.Source.ToString(), sha256 = a.Sha256.Hex,
                    present = store.Contains(a.Sha256), url = $"/assets/sha256/{a.Sha256.Hex}",
                }),
            },
            store = store.Root,
        };
    }

    /// <summary>A kernel/initrd fetch by digest is a boot stage when the query names the machine that boots it.</summary>
    private static void RecordBootStage(HttpContext context, Digest digest, CatalogStore catalog, MachineRegistry registry)
    {
        var profiles = catalog.Current.Profiles;
        if (profiles.Release is not { } release || !context.Request.QueryString.HasValue) return;
        if (!BootQuery.TryParse(context.Request.Query, out var query, out _) || MachineMatcher.Match(profiles, query) is not { } match) return;
        if (BootArtifacts.ReferenceFor(profiles.Roles[match.Machine.Role], release, digest) is { } reference)
            BootAssetTracking.Record(context, reference, catalog, registry);
    }
}
