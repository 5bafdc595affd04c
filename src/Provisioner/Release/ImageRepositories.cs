using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.RegularExpressions;
using Provisioner.Primitives;

namespace Provisioner.Release;

/// <summary>
/// What one repository of the store holds: tag → manifest digest, manifest digest → media type, and every blob
/// digest that belongs to it (so <c>/v2/a/blobs/…</c> does not serve blobs only imported for <c>b</c>).
/// Stored as <c>&lt;store&gt;/repositories/&lt;name&gt;/index.json</c>, replaced atomically.
/// </summary>
internal sealed record RepositoryIndex(
    [property: JsonPropertyName("tags")] ImmutableSortedDictionary<string, string> Tags,
    [property: JsonPropertyName("manifests")] ImmutableSortedDictionary<string, string> Manifests,
    [property: JsonPropertyName("blobs")] ImmutableSortedSet<string> Blobs)
{
    public static readonly RepositoryIndex Empty = new(
        ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal),
        ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal),
        ImmutableSortedSet.Create<string>(StringComparer.Ordinal));

    public RepositoryIndex Merge(RepositoryIndex other) => new(
        Tags.SetItems(other.Tags), Manifests.SetItems(other.Manifests), Blobs.Union(other.Blobs));
}

/// <summary>Reads and updates the repository indexes of a <see cref="ContentStore"/>.</summary>
internal sealed class ImageRepositories(ContentStore store)
{
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    public ContentStore Store { get; } = store;

    private string IndexPath(string name) => Path.Combine(Store.RepositoriesDirectory, Path.Combine(name.Split('/')), "index.json");

    /// <summary>The repository's index, or null when no image was ever imported under <paramref name="name"/>.</summary>
    public async Task<RepositoryIndex?> FindAsync(string name, CancellationToken cancellationToken)
    {
        if (!ImageNames.IsValidName(name)) return null;
        var path = IndexPath(name);
        try
        {
            await using var stream = ContentStore.OpenRead(path);
            var index = await JsonSerializer.DeserializeAsync<RepositoryIndex>(stream, Json, cancellationToken)
                        ?? throw new InvalidDataException($"{path} is empty");
            // The deserializer builds the collections with the culture-aware default comparer; tags sort by code point.
            return new RepositoryIndex(index.Tags.WithComparers(StringComparer.Ordinal), index.Manifests.WithComparers(StringComparer.Ordinal),
                index.Blobs.WithComparer(StringComparer.Ordinal));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    /// <summary>Merges <paramref name="additions"/> into the repository's index under a lock between processes.</summary>
    public async Task AddAsync(string name, RepositoryIndex additions, CancellationToken cancellationToken)
    {
        if (!ImageNames.IsValidName(name)) throw new ArgumentException($"'{name}' is not a repository name", nameof(name));
        var path = IndexPath(name);
        await using var _ = await FileLock.AcquireAsync(path + ".lock", cancellationToken);
        var current = await FindAsync(name, cancellationToken) ?? RepositoryIndex.Empty;
        var merged = current.Merge(additions);
        await AtomicFile.WriteAsync(path, JsonSerializer.Serialize(merged, Json), AtomicFile.PublicMode, cancellationToken);
    }
}
