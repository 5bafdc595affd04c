using System.Security.Cryptography;
using Provisioner.Release;
using Provisioner.Primitives;

namespace Provisioner.Tests.Release;

public sealed class ContentStoreTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("provisioner-store-");
    private readonly ContentStore _store;

    public ContentStoreTests() => _store = new ContentStore(_work.FullName);

    public void Dispose() => _work.Delete(recursive: true);

    [Fact]
    public async Task A_blob_is_stored_at_blobs_sha256_hex_readable_by_others()
    {
        byte[] content = [1, 2, 3];
        var digest = await _store.AddAsync(content, null, "test", Ct);

        var path = Path.Combine(_work.FullName, "blobs", "sha256", Convert.ToHexStringLower(SHA256.HashData(content)));
        Assert.Equal(path, _store.BlobPath(digest));
        Assert.Equal(content, await File.ReadAllBytesAsync(path, Ct));
        if (!OperatingSystem.IsWindows()) Assert.True(File.GetUnixFileMode(path).HasFlag(UnixFileMode.OtherRead));
    }

    [Fact]
    public async Task Content_that_does_not_hash_to_the_expected_digest_is_not_stored()
    {
        var expected = Digest.Of([9, 9, 9]);

        var e = await Assert.ThrowsAsync<DigestMismatchException>(() => _store.AddAsync(new byte[] { 1, 2, 3 }, expected, "artifact x", Ct));

        Assert.Equal($"artifact x: sha256 mismatch: expected {expected.Hex}, got {Digest.Of([1, 2, 3]).Hex}", e.Message);
        Assert.False(_store.Contains(expected));
        Assert.False(_store.Contains(Digest.Of([1, 2, 3])));
        Assert.Empty(Directory.EnumerateFiles(_store.TempDirectory));
    }

    [Fact]
    public async Task Stale_temporaries_are_removed_and_fresh_ones_kept()
    {
        Directory.CreateDirectory(_store.TempDirectory);
        var old = Path.Combine(_store.TempDirectory, "old.blob");
        var fresh = Path.Combine(_store.TempDirectory, "fresh.blob");
        await File.WriteAllTextAsync(old, "x", Ct);
        await File.WriteAllTextAsync(fresh, "x", Ct);
        File.SetLastWriteTimeUtc(old, DateTime.UtcNow.AddDays(-2));

        var removed = _store.RemoveStaleTemporaries(TimeSpan.FromHours(24), TimeProvider.System);

        Assert.Equal(1, removed);
        Assert.False(File.Exists(old));
        Assert.True(File.Exists(fresh));
    }

    [Theory]
    [InlineData("sha256:abc", "is not a sha256")]
    [InlineData("sha512:" + "ab", "'sha512' is not supported")]
    [InlineData("nonsense", "is not a digest")]
    public void Digest_parsing_says_why_a_digest_is_refused(string text, string reason)
    {
        Assert.False(Digest.TryParse(text, out _, out var error));
        Assert.Contains(reason, error);
    }
}
