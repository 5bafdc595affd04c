using System.Collections.Immutable;
using System.Formats.Tar;
using System.Text.Json;
using Provisioner.Primitives;

namespace Provisioner.Release;

/// <summary>What <see cref="OciLayoutImporter"/> stored.</summary>
internal sealed record ImageImportResult(string Name, string Tag, Digest Digest, string MediaType, int Manifests, int Blobs, long Bytes);

/// <summary>
/// Imports an image from an OCI image layout (a directory with <c>oci-layout</c>, <c>index.json</c> and
/// <c>blobs/sha256/…</c>, or a tar archive of one, as <c>skopeo copy … oci:DIR</c> / <c>oci-archive:FILE</c> write) into
/// the store under <c>name:tag</c>. Every manifest, config and layer is hashed while copied and must match its
/// descriptor; image indexes are followed into every child manifest. The tag is recorded only after all blobs are in.
/// </summary>
internal sealed class OciLayoutImporter(ImageRepositories repositories)
{
    private const long MaxManifestBytes = 4 << 20;

    /// <param name="pinned">When given, the image's root manifest (or index) must have this digest, as a release pins it.</param>
    public async Task<ImageImportResult> ImportAsync(string source, string name, string tag, string? sourceRef, CancellationToken cancellationToken,
        Digest? pinned = null)
    {
        if (!ImageNames.IsValidName(name)) throw new ReleaseException($"'{name}' is not a repository name");
        if (!ImageNames.IsValidTag(tag)) throw new ReleaseException($"'{tag}' is not a tag");
        if (Directory.Exists(source)) return await ImportDirectoryAsync(source, name, tag, sourceRef, pinned, cancellationToken);
        if (!File.Exists(source)) throw new ReleaseException($"'{source}' is neither an OCI layout directory nor an archive of one");

        var store = repositories.Store;
        var scratch = Path.Combine(store.TempDirectory, $"layout-{Guid.NewGuid():N}");
        Directory.CreateDirectory(scratch);
        try
        {
            try
            {
                await using var file = ContentStore.OpenRead(source);
                await TarFile.ExtractToDirectoryAsync(file, scratch, overwriteFiles: false, cancellationToken);
            }
            catch (Exception e) when (e is InvalidDataException or FormatException)
            {
                throw new ReleaseException($"'{source}' is not a tar archive of an OCI layout: {e.Message}");
            }
            return await ImportDirectoryAsync(scratch, name, tag, sourceRef, pinned, cancellationToken, display: source);
        }
        finally
        {
            Directory.Delete(scratch, recursive: true);
        }
    }

    private async Task<ImageImportResult> ImportDirectoryAsync(string layout, string name, string tag, string? sourceRef, Digest? pinned,
        CancellationToken cancellationToken, string? display = null)
    {
        display ??= layout;
        var indexPath = Path.Combine(layout, "index.json");
        if (!File.Exists(indexPath)) throw new ReleaseException($"{display}: not an OCI image layout (no index.json)");
        Descriptor root;
        try
        {
            using var doc = JsonDocument.Parse(await File.ReadAllBytesAsync(indexPath, cancellationToken));
            root = SelectRoot(doc.RootElement, sourceRef, display);
        }
        catch (JsonException e)
        {
            throw new ReleaseException($"{display}/index.json: not valid JSON: {e.Message}");
        }
        if (pinned is not null && root.Digest != pinned)
            throw new ReleaseException($"{display}: the image is {root.Digest} but the release pins {name}:{tag} to {pinned}");

        var walk = new Walk(repositories.Store, layout, display);
        var mediaType = await walk.ManifestAsync(root, "index.json", cancellationToken);
        await repositories.AddAsync(name, new RepositoryIndex(
            ImmutableSortedDictionary.CreateRange(StringComparer.Ordinal, [KeyValuePair.Create(tag, root.Digest.ToString())]),
            walk.Manifests.ToImmutableSortedDictionary(StringComparer.Ordinal),
            walk.Blobs.ToImmutableSortedSet(StringComparer.Ordinal)), cancellationToken);
        return new ImageImportResult(name, tag, root.Digest, mediaType, walk.Manifests.Count, walk.Blobs.Count, walk.Bytes);
    }

    /// <summary>The one manifest of index.json, or the one whose <c>org.opencontainers.image.ref.name</c> is <paramref name="sourceRef"/>.</summary>
    private static Descriptor SelectRoot(JsonElement index, string? sourceRef, string display)
    {
        if (index.ValueKind != JsonValueKind.Object || !index.TryGetProperty("manifests", out var list) || list.ValueKind != JsonValueKind.Array)
            throw new ReleaseException($"{display}/index.json: no 'manifests' list");
        var all = list.EnumerateArray().Select((d, i) => Descriptor.Read(d, $"{display}/index.json manifests[{i}]")).ToList();
        if (sourceRef is not null)
        {
            var named = all.Where(d => d.RefName == sourceRef).ToList();
            return named.Count == 1 ? named[0]
                : throw new ReleaseException($"{display}: no single manifest named '{sourceRef}' in index.json (names: {Names(all)})");
        }
        return all.Count switch
        {
            1 => all[0],
            0 => throw new ReleaseException($"{display}: index.json lists no manifests"),
            _ => throw new ReleaseException($"{display}: index.json lists {all.Count} manifests; choose one with --ref (names: {Names(all)})"),
        };
    }

    private static string Names(IEnumerable<Descriptor> all) =>
        string.Join(", ", all.Select(d => d.RefName ?? d.Digest.ToString()));

    private sealed class Walk(ContentStore store, string layout, string display)
    {
        public Dictionary<string, string> Manifests { get; } = new(StringComparer.Ordinal);
        public HashSet<string> Blobs { get; } = new(StringComparer.Ordinal);
        public long Bytes { get; private set; }

        /// <summary>Stores a manifest or index and everything it references; returns its media type.</summary>
        public async Task<string> ManifestAsync(Descriptor descriptor, string referrer, CancellationToken cancellationToken)
        {
            if (descriptor.Size > MaxManifestBytes)
                throw new ReleaseException($"{display}: manifest {descriptor.Digest} is {descriptor.Size} bytes; at most {MaxManifestBytes} are accepted");
            var bytes = await BlobAsync(descriptor, referrer, cancellationToken, keep: true);
            JsonElement manifest;
            try { manifest = JsonDocument.Parse(bytes).RootElement.Clone(); }
            catch (JsonException e) { throw new ReleaseException($"{display}: manifest {descriptor.Digest} is not valid JSON: {e.Message}"); }

            var declared = manifest.TryGetProperty("mediaType", out var mt) && mt.ValueKind == JsonValueKind.String ? mt.GetString() : null;
            if (declared is not null && descriptor.MediaType is not null && declared != descriptor.MediaType)
                throw new ReleaseException($"{display}: manifest {descriptor.Digest} says mediaType {declared} but {referrer} says {descriptor.MediaType}");
            var mediaType = descriptor.MediaType ?? declared
                ?? (manifest.TryGetProperty("manifests", out _) ? MediaTypes.OciIndex : MediaTypes.OciManifest);
            var what = $"manifest {descriptor.Digest}";
            if (MediaTypes.IsIndex(mediaType))
            {
                foreach (var (child, i) in Children(manifest, "manifests", what).Select((c, i) => (c, i)))
                    await ManifestAsync(child, $"{what} manifests[{i}]", cancellationToken);
            }
            else if (MediaTypes.IsManifest(mediaType))
            {
                if (!manifest.TryGetProperty("config", out var config))
                    throw new ReleaseException($"{display}: {what} has no config");
                await BlobAsync(Descriptor.Read(config, $"{what} config"), $"{what} config", cancellationToken, keep: false);
                foreach (var (layer, i) in Children(manifest, "layers", what).Select((c, i) => (c, i)))
                    await BlobAsync(layer, $"{what} layers[{i}]", cancellationToken, keep: false);
            }
            else throw new ReleaseException($"{display}: {what} has media type '{mediaType}', which is not an OCI or Docker schema 2 manifest or index");

            Manifests[descriptor.Digest.ToString()] = mediaType;
            return mediaType;
        }

        private IEnumerable<Descriptor> Children(JsonElement manifest, string key, string what)
        {
            if (!manifest.TryGetProperty(key, out var list) || list.ValueKind != JsonValueKind.Array)
                throw new ReleaseException($"{display}: {what} has no '{key}' list");
            return [.. list.EnumerateArray().Select((d, i) => Descriptor.Read(d, $"{what} {key}[{i}]"))];
        }

        /// <summary>Copies one blob into the store, verified; returns its bytes when <paramref name="keep"/>.</summary>
        private async Task<byte[]?> BlobAsync(Descriptor descriptor, string referrer, CancellationToken cancellationToken, bool keep)
        {
            var digest = descriptor.Digest;
            Blobs.Add(digest.ToString());
            var source = Path.Combine(layout, "blobs", "sha256", digest.Hex);
            if (!File.Exists(source))
            {
                // Already in the store (e.g. a layer shared with an earlier import): it was verified when it was stored.
                if (store.Blob(digest) is { } stored) return keep ? await File.ReadAllBytesAsync(stored.FullName, cancellationToken) : null;
                throw new ReleaseException($"{display}: blob {digest} ({referrer}) is missing from blobs/sha256/");
            }
            var length = new FileInfo(source).Length;
            if (length != descriptor.Size)
                throw new ReleaseException($"{display}: blob {digest} ({referrer}) is {length} bytes, the descriptor says {descriptor.Size}");
            try
            {
                await using var stream = ContentStore.OpenRead(source);
                await store.AddAsync(stream, digest, $"{display}: blob {digest} ({referrer})", cancellationToken);
            }
            catch (DigestMismatchException e)
            {
                throw new ReleaseException(e.Message);
            }
            Bytes += length;
            return keep ? await File.ReadAllBytesAsync(store.BlobPath(digest), cancellationToken) : null;
        }
    }

    private sealed record Descriptor(string? MediaType, Digest Digest, long Size, string? RefName)
    {
        public static Descriptor Read(JsonElement e, string where)
        {
            if (e.ValueKind != JsonValueKind.Object) throw new ReleaseException($"{where}: a descriptor must be an object");
            var digestText = e.TryGetProperty("digest", out var d) && d.ValueKind == JsonValueKind.String ? d.GetString() : null;
            if (!Digest.TryParse(digestText, out var digest, out var error)) throw new ReleaseException($"{where}: {error}");
            if (!e.TryGetProperty("size", out var s) || !s.TryGetInt64(out var size) || size < 0)
                throw new ReleaseException($"{where}: 'size' must be a non-negative integer");
            var mediaType = e.TryGetProperty("mediaType", out var m) && m.ValueKind == JsonValueKind.String ? m.GetString() : null;
            string? refName = null;
            if (e.TryGetProperty("annotations", out var a) && a.ValueKind == JsonValueKind.Object
                && a.TryGetProperty("org.opencontainers.image.ref.name", out var r) && r.ValueKind == JsonValueKind.String)
                refName = r.GetString();
            return new Descriptor(mediaType, digest, size, refName);
        }
    }
}

/// <summary>An operator-facing failure of a release operation; the message is the whole story (one line).</summary>
internal sealed class ReleaseException(string message) : Exception(message);
