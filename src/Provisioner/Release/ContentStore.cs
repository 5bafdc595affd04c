using System.Security.Cryptography;
using Provisioner.Primitives;

namespace Provisioner.Release;

/// <summary>
/// The content-addressed store behind the release mirror: every blob (boot artifact, image layer, config,
/// manifest) lives once at <c>&lt;root&gt;/blobs/sha256/&lt;hex&gt;</c>. A blob appears there only after its
/// content hashed to its name: writers stream into a temporary file in the same file system, hash while
/// writing and rename at the end, so readers (the HTTP server, other processes) never see a partial or wrong blob.
/// </summary>
internal sealed class ContentStore
{
    public const UnixFileMode BlobMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const int BufferSize = 1 << 20;

    public ContentStore(string root)
    {
        Root = Path.GetFullPath(root);
    }

    public string Root { get; }
    public string BlobsDirectory => Path.Combine(Root, "blobs", "sha256");
    /// <summary>Scratch space for whole-blob writes; same file system as the blobs so a rename is atomic.</summary>
    public string TempDirectory => Path.Combine(Root, "tmp");
    /// <summary>Interrupted downloads (<c>&lt;hex&gt;.part</c>) and their lock files.</summary>
    public string PartialDirectory => Path.Combine(Root, "partial");
    public string RepositoriesDirectory => Path.Combine(Root, "repositories");

    public string BlobPath(Digest digest) => Path.Combine(BlobsDirectory, digest.Hex);

    public bool Contains(Digest digest) => File.Exists(BlobPath(digest));

    /// <summary>The blob's file when present; it was verified when it was written.</summary>
    public FileInfo? Blob(Digest digest)
    {
        var file = new FileInfo(BlobPath(digest));
        return file.Exists ? file : null;
    }

    /// <summary>
    /// Copies <paramref name="source"/> into the store, hashing while streaming. When <paramref name="expected"/> is
    /// given and the content differs, nothing is stored and <see cref="DigestMismatchException"/> names
    /// <paramref name="what"/>, the expected and the actual digest.
    /// </summary>
    public async Task<Digest> AddAsync(Stream source, Digest? expected, string what, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(TempDirectory);
        var temp = Path.Combine(TempDirectory, $"{Guid.NewGuid():N}.blob");
        try
        {
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            await using (var target = OpenNew(temp))
            {
                await CopyHashingAsync(source, target, hash, cancellationToken);
                await target.FlushAsync(cancellationToken);
                target.Flush(flushToDisk: true);
            }
            var actual = Digest.FromHex(Convert.ToHexStringLower(hash.GetHashAndReset()));
            if (expected is not null && actual != expected) throw new DigestMismatchException(what, expected, actual);
            Commit(temp, actual);
            return actual;
        }
        finally
        {
            File.Delete(temp); // no-op after the rename
        }
    }

    public async Task<Digest> AddAsync(ReadOnlyMemory<byte> content, Digest? expected, string what, CancellationToken cancellationToken)
    {
        using var stream = new MemoryStream(content.ToArray(), writable: false);
        return await AddAsync(stream, expected, what, cancellationToken);
    }

    /// <summary>
    /// Moves a file the caller has already verified to hash to <paramref name="digest"/> into place. The file must be
    /// in this store's file system (<see cref="TempDirectory"/> or <see cref="PartialDirectory"/>).
    /// </summary>
    internal void Commit(string verifiedFile, Digest digest)
    {
        Directory.CreateDirectory(BlobsDirectory);
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(verifiedFile, BlobMode); // readable by a server running as another user
        // Same content under the same name: replacing an existing copy is harmless and keeps this idempotent.
        File.Move(verifiedFile, BlobPath(digest), overwrite: true);
    }

    /// <summary>
    /// Deletes what crashed writers left in <see cref="TempDirectory"/>. Only entries older than
    /// <paramref name="olderThan"/> go: another process sharing the store may be importing right now.
    /// </summary>
    public int RemoveStaleTemporaries(TimeSpan olderThan, TimeProvider time)
    {
        if (!Directory.Exists(TempDirectory)) return 0;
        var cutoff = time.GetUtcNow().UtcDateTime - olderThan;
        var removed = 0;
        foreach (var entry in new DirectoryInfo(TempDirectory).EnumerateFileSystemInfos())
        {
            if (entry.LastWriteTimeUtc >= cutoff) continue;
            try
            {
                if (entry is DirectoryInfo dir) dir.Delete(recursive: true);
                else entry.Delete();
                removed++;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Vanished or busy: the next start tries again.
            }
        }
        return removed;
    }

    internal static FileStream OpenNew(string path, FileMode mode = FileMode.CreateNew)
    {
        var options = new FileStreamOptions { Mode = mode, Access = FileAccess.Write, Options = FileOptions.Asynchronous, BufferSize = 0 };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = BlobMode;
        return new FileStream(path, options);
    }

    internal static FileStream OpenRead(string path) => new(path, new FileStreamOptions
    {
        Mode = FileMode.Open,
        Access = FileAccess.Read,
        Share = FileShare.Read,
        Options = FileOptions.Asynchronous | FileOptions.SequentialScan,
        BufferSize = 0,
    });

    /// <summary>Copies and hashes in one pass; returns the number of bytes copied.</summary>
    internal static async Task<long> CopyHashingAsync(Stream source, Stream target, IncrementalHash hash, CancellationToken cancellationToken,
        Action<long>? progress = null)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            long total = 0;
            int read;
            while ((read = await source.ReadAsync(buffer.AsMemory(0, BufferSize), cancellationToken)) > 0)
            {
                hash.AppendData(buffer, 0, read);
                await target.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
                total += read;
                progress?.Invoke(read);
            }
            return total;
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Hashes a whole file (to re-trust the prefix of an interrupted download before resuming it).</summary>
    internal static async Task HashFileAsync(string path, IncrementalHash hash, CancellationToken cancellationToken)
    {
        await using var stream = OpenRead(path);
        await CopyHashingAsync(stream, Stream.Null, hash, cancellationToken);
    }
}

/// <summary>
/// An exclusive lock between processes on one file (flock through .NET's <see cref="FileShare.None"/> on Unix),
/// so two <c>provisioner</c> processes sharing a store do not download or import the same thing at once.
/// </summary>
internal sealed class FileLock : IAsyncDisposable
{
    private readonly FileStream _stream;
    private FileLock(FileStream stream) => _stream = stream;

    public static async Task<FileLock> AcquireAsync(string path, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        while (true)
        {
            try
            {
                return new FileLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException) when (!cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(100), cancellationToken);
            }
        }
    }

    public ValueTask DisposeAsync() => _stream.DisposeAsync();
}
