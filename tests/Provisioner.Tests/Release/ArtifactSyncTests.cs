using System.Security.Cryptography;
using Microsoft.Extensions.Logging.Abstractions;
using Provisioner.Release;
using Provisioner.Primitives;
using Provisioner.Profiles;

namespace Provisioner.Tests.Release;

/// <summary>Sync against a real HTTP origin on loopback: verification, resumption, single download.</summary>
public sealed class ArtifactSyncTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("provisioner-sync-");
    private readonly HttpClient _http = ReleaseHttp.CreateClient();
    private TestOrigin _origin = null!;
    private ContentStore _store = null!;
    private readonly byte[] _kernel = RandomBytes(1_000_000, seed: 1);

    public async ValueTask InitializeAsync()
    {
        _origin = await TestOrigin.StartAsync(Ct);
        _origin.Add("kernel", _kernel);
        _store = new ContentStore(Path.Combine(_work.FullName, "store"));
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _origin.DisposeAsync();
        _work.Delete(recursive: true);
    }

    private static byte[] RandomBytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    private static Digest Sha(byte[] content) => Digest.FromHex(Convert.ToHexStringLower(SHA256.HashData(content)));

    private ReleaseArtifact Kernel(Uri? source = null) => new("fcos/kernel", "x86_64", source ?? _origin.Url("kernel"), Sha(_kernel));

    private ArtifactSync NewSync(SyncOptions? options = null) =>
        new(_store, _http, options ?? new SyncOptions { RetryDelay = TimeSpan.FromMilliseconds(10), Retries = 3 }, NullLogger.Instance);

    [Fact]
    public async Task A_missing_artifact_is_downloaded_into_the_store_under_its_sha256()
    {
        var result = await NewSync().SyncAsync([Kernel()], Ct);

        Assert.Equal(SyncOutcome.Downloaded, Assert.Single(result).Outcome);
        Assert.Equal(_kernel, await File.ReadAllBytesAsync(_store.BlobPath(Sha(_kernel)), Ct));
        Assert.Empty(Directory.EnumerateFiles(_store.PartialDirectory, "*.part"));
    }

    [Fact]
    public async Task An_artifact_already_in_the_store_is_not_fetched_again()
    {
        await NewSync().SyncAsync([Kernel()], Ct);

        var again = await NewSync().SyncAsync([Kernel()], Ct);

        Assert.Equal(SyncOutcome.AlreadyPresent, Assert.Single(again).Outcome);
        Assert.Equal(1, _origin.GetsOf("kernel"));
    }

    [Fact]
    public async Task A_corrupted_byte_fails_naming_the_artifact_expected_and_actual_digest_and_nothing_is_kept()
    {
        _origin.CorruptAt = 123_456;
        var corrupted = (byte[])_kernel.Clone();
        corrupted[123_456] ^= 0x01;

        var result = Assert.Single(await NewSync().SyncAsync([Kernel()], Ct));

        Assert.Equal(SyncOutcome.Failed, result.Outcome);
        Assert.Equal($"artifact fcos/kernel (x86_64): sha256 mismatch: expected {Sha(_kernel).Hex}, got {Sha(corrupted).Hex}", result.Error);
        Assert.False(_store.Contains(Sha(_kernel)));
        Assert.Empty(Directory.EnumerateFiles(_store.PartialDirectory, "*.part"));
        Assert.Equal(1, _origin.GetsOf("kernel")); // a wrong digest is not a transient failure
    }

    [Fact]
    public async Task A_connection_dropped_mid_file_is_resumed_with_a_range_request()
    {
        _origin.DropAfter = 300_000;
        _origin.DropTimes = 1;

        var result = Assert.Single(await NewSync().SyncAsync([Kernel()], Ct));

        Assert.Equal(SyncOutcome.Downloaded, result.Outcome);
        Assert.Equal(_kernel, await File.ReadAllBytesAsync(_store.BlobPath(Sha(_kernel)), Ct));
        var requests = _origin.Requests.ToList();
        Assert.Equal(2, requests.Count);
        Assert.Null(requests[0].Range);
        Assert.Matches("^bytes=[1-9][0-9]*-$", requests[1].Range);
    }

    [Fact]
    public async Task An_origin_that_goes_silent_mid_file_is_abandoned_and_the_download_resumed()
    {
        _origin.DropAfter = 300_000;
        _origin.DropTimes = 1;
        _origin.StallInsteadOfDrop = true;
        var options = new SyncOptions { RetryDelay = TimeSpan.FromMilliseconds(10), Retries = 3, StallTimeout = TimeSpan.FromMilliseconds(500) };

        var result = Assert.Single(await NewSync(options).SyncAsync([Kernel()], Ct));

        Assert.Equal(SyncOutcome.Downloaded, result.Outcome);
        Assert.Equal(_kernel, await File.ReadAllBytesAsync(_store.BlobPath(Sha(_kernel)), Ct));
        Assert.Matches("^bytes=[1-9][0-9]*-$", _origin.Requests.Last().Range);
    }

    [Fact]
    public async Task A_partial_file_left_by_an_interrupted_run_is_resumed_from_its_end()
    {
        Directory.CreateDirectory(_store.PartialDirectory);
        await File.WriteAllBytesAsync(Path.Combine(_store.PartialDirectory, Sha(_kernel).Hex + ".part"), _kernel[..250_000], Ct);

        var result = Assert.Single(await NewSync().SyncAsync([Kernel()], Ct));

        Assert.Equal(SyncOutcome.Downloaded, result.Outcome);
        Assert.Equal("bytes=250000-", Assert.Single(_origin.Requests).Range);
        Assert.Equal(_kernel, await File.ReadAllBytesAsync(_store.BlobPath(Sha(_kernel)), Ct));
    }

    [Fact]
    public async Task A_partial_file_with_wrong_bytes_is_discarded_after_the_full_digest_check()
    {
        Directory.CreateDirectory(_store.PartialDirectory);
        var part = Path.Combine(_store.PartialDirectory, Sha(_kernel).Hex + ".part");
        await File.WriteAllBytesAsync(part, RandomBytes(250_000, seed: 99), Ct);

        var first = Assert.Single(await NewSync().SyncAsync([Kernel()], Ct));
        var second = Assert.Single(await NewSync().SyncAsync([Kernel()], Ct));

        Assert.Equal(SyncOutcome.Failed, first.Outcome);
        Assert.Contains("sha256 mismatch", first.Error);
        Assert.Equal(SyncOutcome.Downloaded, second.Outcome);
        Assert.Null(_origin.Requests.Last().Range);
    }

    [Fact]
    public async Task Concurrent_syncs_in_one_process_download_the_artifact_once()
    {
        _origin.ChunkDelay = TimeSpan.FromMilliseconds(20);
        var sync = NewSync();

        var results = await Task.WhenAll(sync.SyncAsync([Kernel()], Ct), sync.SyncAsync([Kernel()], Ct), sync.SyncAsync([Kernel()], Ct));

        Assert.All(results, r => Assert.NotEqual(SyncOutcome.Failed, Assert.Single(r).Outcome));
        Assert.Equal(1, _origin.GetsOf("kernel"));
    }

    [Fact]
    public async Task Concurrent_syncs_sharing_a_store_but_not_a_process_download_the_artifact_once()
    {
        _origin.ChunkDelay = TimeSpan.FromMilliseconds(20);

        // Separate instances share nothing in memory, like two provisioner processes: only the lock file is common.
        var results = await Task.WhenAll(NewSync().SyncAsync([Kernel()], Ct), NewSync().SyncAsync([Kernel()], Ct));

        Assert.Equal([SyncOutcome.AlreadyPresent, SyncOutcome.Downloaded], results.Select(r => Assert.Single(r).Outcome).Order());
        Assert.Equal(1, _origin.GetsOf("kernel"));
    }

    [Fact]
    public async Task No_more_artifacts_than_the_concurrency_bound_are_downloaded_at_once()
    {
        // Slow enough (about 0.4 s per file) that the two permitted downloads overlap even on a busy machine.
        _origin.ChunkDelay = TimeSpan.FromMilliseconds(60);
        var files = Enumerable.Range(0, 4).Select(i => RandomBytes(400_000, seed: 10 + i)).ToList();
        for (var i = 0; i < files.Count; i++) _origin.Add($"f{i}", files[i]);
        var artifacts = files.Select((f, i) => new ReleaseArtifact($"fcos/f{i}", "x86_64", _origin.Url($"f{i}"), Sha(f))).ToList();

        var results = await NewSync(new SyncOptions { Concurrency = 2 }).SyncAsync(artifacts, Ct);

        Assert.All(results, r => Assert.Equal(SyncOutcome.Downloaded, r.Outcome));
        Assert.Equal(2, _origin.MaxConcurrent);
    }

    [Fact]
    public async Task A_file_url_is_copied_and_verified()
    {
        var path = Path.Combine(_work.FullName, "kernel-x86_64");
        await File.WriteAllBytesAsync(path, _kernel, Ct);

        var result = Assert.Single(await NewSync().SyncAsync([Kernel(new Uri(path))], Ct));

        Assert.Equal(SyncOutcome.Downloaded, result.Outcome);
        Assert.True(_store.Contains(Sha(_kernel)));
        Assert.Empty(_origin.Requests);
    }

    [Fact]
    public async Task An_air_gapped_directory_provides_artifacts_by_name_without_the_network()
    {
        var dir = Path.Combine(_work.FullName, "offline");
        Directory.CreateDirectory(Path.Combine(dir, "fcos"));
        await File.WriteAllBytesAsync(Path.Combine(dir, "fcos", "kernel"), _kernel, Ct);

        var result = Assert.Single(await NewSync(new SyncOptions { FromDirectory = dir }).SyncAsync([Kernel()], Ct));

        Assert.Equal(SyncOutcome.Downloaded, result.Outcome);
        Assert.Empty(_origin.Requests);
    }

    [Fact]
    public async Task An_air_gapped_copy_with_the_wrong_content_is_refused()
    {
        var dir = Path.Combine(_work.FullName, "offline");
        Directory.CreateDirectory(dir);
        await File.WriteAllBytesAsync(Path.Combine(dir, "kernel"), RandomBytes(1000, seed: 5), Ct);

        var result = Assert.Single(await NewSync(new SyncOptions { FromDirectory = dir }).SyncAsync([Kernel()], Ct));

        Assert.Equal(SyncOutcome.Failed, result.Outcome);
        Assert.StartsWith($"artifact fcos/kernel (x86_64): sha256 mismatch: expected {Sha(_kernel).Hex}, got ", result.Error);
        Assert.Empty(Directory.EnumerateFiles(_store.TempDirectory));
    }

    [Fact]
    public async Task A_404_from_the_origin_fails_at_once_naming_the_url()
    {
        var missing = new ReleaseArtifact("fcos/rootfs.img", "x86_64", _origin.Url("nothing"), Sha(_kernel));

        var result = Assert.Single(await NewSync().SyncAsync([missing], Ct));

        Assert.Equal(SyncOutcome.Failed, result.Outcome);
        Assert.Contains($"{_origin.Url("nothing")} answered 404", result.Error);
        Assert.Equal(1, _origin.GetsOf("nothing"));
    }
}
