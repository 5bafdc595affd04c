using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;
using Provisioner.Primitives;
using Provisioner.Profiles;

namespace Provisioner.Release;

/// <summary>How <see cref="ArtifactSync"/> fetches: parallelism, retries, and an optional air-gap directory.</summary>
internal sealed record SyncOptions
{
    /// <summary>Artifacts downloaded at once.</summary>
    public int Concurrency { get; init; } = 3;
    /// <summary>Retries of a failed transfer (each resumes where the last one stopped).</summary>
    public int Retries { get; init; } = 6;
    /// <summary>First backoff delay; doubles with jitter on every retry.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>A directory of already-downloaded artifacts to take instead of the network (air-gapped import).</summary>
    public string? FromDirectory { get; init; }
    /// <summary>A transfer that receives nothing for this long is abandoned and resumed (there is no overall timeout).</summary>
    public TimeSpan StallTimeout { get; init; } = TimeSpan.FromSeconds(60);
}

internal enum SyncOutcome { AlreadyPresent, Downloaded, Failed }

internal sealed record SyncResult(ReleaseArtifact Artifact, SyncOutcome Outcome, string? Error = null);

/// <summary>
/// Mirrors a release's boot artifacts into the <see cref="ContentStore"/>. Each artifact is fetched once: in this
/// process one task per digest, across processes a lock file per digest. A download streams into
/// <c>partial/&lt;hex&gt;.part</c>, hashing as it goes; when a transfer breaks, the retry re-hashes the part already on
/// disk and asks the origin for the rest with <c>Range</c> (a 200 instead of a 206 starts over). Only when the whole
/// file hashes to the release's sha256 is it renamed into <c>blobs/</c>; on a mismatch the part is deleted and the
/// error names the artifact, the expected and the actual digest (never retried: the origin serves wrong bytes).
/// </summary>
internal sealed class ArtifactSync(ContentStore store, HttpClient http, SyncOptions options, ILogger logger, ISyncProgress? progress = null)
{
    private readonly ConcurrentDictionary<string, Lazy<Task<SyncOutcome>>> _inFlight = new(StringComparer.Ordinal);

    private readonly ResiliencePipeline _retry = new ResiliencePipelineBuilder()
        .AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = new PredicateBuilder().Handle<TransientTransferException>()
                .Handle<HttpRequestException>(e => e.StatusCode is null or HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests or >= HttpStatusCode.InternalServerError)
                .Handle<IOException>(e => e is not DigestMismatchException),
            MaxRetryAttempts = Math.Max(0, options.Retries),
            Delay = options.RetryDelay,
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = true,
            OnRetry = args =>
            {
                logger.LogWarning(args.Outcome.Exception, "Transfer failed ({Error}); retry {Attempt} in {Delay}", args.Outcome.Exception?.Message, args.AttemptNumber + 1, args.RetryDelay);
                return ValueTask.CompletedTask;
            },
        })
        .Build();

    /// <summary>Brings every artifact into the store; failures are reported per artifact, not thrown.</summary>
    public async Task<IReadOnlyList<SyncResult>> SyncAsync(IEnumerable<ReleaseArtifact> artifacts, CancellationToken cancellationToken)
    {
        var results = new ConcurrentBag<SyncResult>();
        await Parallel.ForEachAsync(artifacts, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, options.Concurrency), CancellationToken = cancellationToken },
            async (artifact, ct) =>
            {
                try
                {
                    results.Add(new SyncResult(artifact, await EnsureAsync(artifact, ct)));
                }
                catch (Exception e) when (e is IOException or HttpRequestException or ReleaseException or UnauthorizedAccessException
                                          || (e is OperationCanceledException && !ct.IsCancellationRequested))
                {
                    logger.LogError(e, "Artifact {Artifact} not synced: {Error}", artifact.ToString(), e.Message);
                    results.Add(new SyncResult(artifact, SyncOutcome.Failed, e.Message));
                }
            });
        return [.. results.OrderBy(r => r.Artifact.Architecture, StringComparer.Ordinal).ThenBy(r => r.Artifact.Name, StringComparer.Ordinal)];
    }

    /// <summary>
    /// Makes sure one artifact is in the store; concurrent callers for the same digest share one transfer (which runs
    /// under the first caller's cancellation token; later callers stop waiting when theirs is cancelled).
    /// </summary>
    public async Task<SyncOutcome> EnsureAsync(ReleaseArtifact artifact, CancellationToken cancellationToken)
    {
        if (store.Contains(artifact.Sha256)) return SyncOutcome.AlreadyPresent;
        var lazy = _inFlight.GetOrAdd(artifact.Sha256.Hex, _ => new Lazy<Task<SyncOutcome>>(() => FetchOnceAsync(artifact, cancellationToken)));
        try
        {
            return await lazy.Value.WaitAsync(cancellationToken);
        }
        finally
        {
            _inFlight.TryRemove(KeyValuePair.Create(artifact.Sha256.Hex, lazy));
        }
    }

    private async Task<SyncOutcome> FetchOnceAsync(ReleaseArtifact artifact, CancellationToken cancellationToken)
    {
        var what = $"artifact {artifact}";
        await using var _ = await FileLock.AcquireAsync(Path.Combine(store.PartialDirectory, artifact.Sha256.Hex + ".lock"), cancellationToken);
        // Another process may have finished it while we waited for the lock.
        if (store.Contains(artifact.Sha256)) return SyncOutcome.AlreadyPresent;

        if (options.FromDirectory is { } dir)
        {
            var local = LocalCandidates(dir, artifact).FirstOrDefault(File.Exists)
                        ?? throw new ReleaseException($"{what}: not found in {dir} (looked for {string.Join(", ", LocalCandidates(dir, artifact).Select(p => Path.GetRelativePath(dir, p)))})");
            await CopyLocalAsync(artifact, local, what, cancellationToken);
        }
        else if (artifact.Source.IsFile)
        {
            if (!File.Exists(artifact.Source.LocalPath)) throw new ReleaseException($"{what}: {artifact.Source.LocalPath} does not exist");
            await CopyLocalAsync(artifact, artifact.Source.LocalPath, what, cancellationToken);
        }
        else
        {
            await _retry.ExecuteAsync(ct => new ValueTask(DownloadAsync(artifact, what, ct)), cancellationToken);
        }
        logger.LogInformation("Artifact {Artifact} stored as sha256:{Digest}", artifact.ToString(), artifact.Sha256.Hex);
        return SyncOutcome.Downloaded;
    }

    /// <summary>Where an air-gapped copy may be: by artifact name, by the URL's file name, or by digest.</summary>
    private static IEnumerable<string> LocalCandidates(string dir, ReleaseArtifact artifact) =>
    [
        Path.Combine(dir, artifact.Architecture, artifact.Name),
        Path.Combine(dir, artifact.Name),
        Path.Combine(dir, Path.GetFileName(artifact.Source.LocalPath)),
        Path.Combine(dir, artifact.Sha256.Hex),
    ];

    private async Task CopyLocalAsync(ReleaseArtifact artifact, string path, string what, CancellationToken cancellationToken)
    {
        await using var source = ContentStore.OpenRead(path);
        progress?.Started(artifact, source.Length, 0);
        await using var counting = new ProgressStream(source, n => progress?.Advanced(artifact, n));
        await store.AddAsync(counting, artifact.Sha256, what, cancellationToken);
        progress?.Finished(artifact);
    }

    private async Task DownloadAsync(ReleaseArtifact artifact, string what, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(store.PartialDirectory);
        var part = Path.Combine(store.PartialDirectory, artifact.Sha256.Hex + ".part");
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long offset = 0;
        if (File.Exists(part))
        {
            // The prefix came from this artifact's URL on an earlier attempt; the final digest check covers it.
            await ContentStore.HashFileAsync(part, hash, cancellationToken);
            offset = new FileInfo(part).Length;
        }

        using var request = new HttpRequestMessage(HttpMethod.Get, artifact.Source);
        if (offset > 0) request.Headers.Range = new RangeHeaderValue(offset, null);
        // Re-armed on every received buffer: a silent origin breaks the transfer, which the retry then resumes.
        using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        stall.CancelAfter(options.StallTimeout);
        using var response = await SendAsync(request, what, artifact.Source, stall.Token, cancellationToken);

        if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && offset > 0)
        {
            // Nothing after the part: it may already be complete. The digest decides.
            VerifyAndCommit(artifact, part, hash, what);
            return;
        }
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"{what}: {artifact.Source} answered {(int)response.StatusCode} {response.ReasonPhrase}", null, response.StatusCode);

        var resumed = offset > 0 && response.StatusCode == HttpStatusCode.PartialContent
                      && response.Content.Headers.ContentRange is { From: { } from } && from == offset;
        if (offset > 0 && !resumed)
        {
            // The origin ignored the range (or answered another one): start over.
            logger.LogInformation("{Artifact}: origin did not resume at byte {Offset}; downloading from the start", artifact.ToString(), offset);
            hash.GetHashAndReset();
            offset = 0;
        }
        var total = response.Content.Headers.ContentLength is { } length ? offset + length : (long?)null;
        progress?.Started(artifact, total, offset);

        await using (var body = await response.Content.ReadAsStreamAsync(cancellationToken))
        await using (var target = ContentStore.OpenNew(part, resumed ? FileMode.Append : FileMode.Create))
        {
            try
            {
                await ContentStore.CopyHashingAsync(body, target, hash, stall.Token, n =>
                {
                    stall.CancelAfter(options.StallTimeout);
                    progress?.Advanced(artifact, n);
                });
            }
            catch (Exception e) when (e is IOException or HttpRequestException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                await target.FlushAsync(CancellationToken.None);
                var why = e is OperationCanceledException ? $"nothing received for {options.StallTimeout.TotalSeconds:0.#} s" : e.Message;
                throw new TransientTransferException($"{what}: transfer from {artifact.Source} broke after {target.Length} bytes: {why}", e);
            }
            await target.FlushAsync(cancellationToken);
            target.Flush(flushToDisk: true);
            if (total is { } expectedLength && target.Length != expectedLength)
                throw new TransientTransferException($"{what}: transfer from {artifact.Source} ended after {target.Length} of {expectedLength} bytes", null);
        }
        VerifyAndCommit(artifact, part, hash, what);
        progress?.Finished(artifact);
    }

    private async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, string what, Uri source, CancellationToken stall, CancellationToken cancellationToken)
    {
        try
        {
            return await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, stall);
        }
        catch (OperationCanceledException e) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TransientTransferException($"{what}: {source} did not answer within {options.StallTimeout.TotalSeconds:0.#} s", e);
        }
    }

    private void VerifyAndCommit(ReleaseArtifact artifact, string part, IncrementalHash hash, string what)
    {
        var actual = Digest.FromHex(Convert.ToHexStringLower(hash.GetHashAndReset()));
        if (actual != artifact.Sha256)
        {
            File.Delete(part);
            throw new DigestMismatchException(what, artifact.Sha256, actual);
        }
        store.Commit(part, actual);
    }

    /// <summary>A broken transfer worth resuming.</summary>
    private sealed class TransientTransferException(string message, Exception? inner) : Exception(message, inner);

    /// <summary>Counts bytes read, for progress of local copies.</summary>
    private sealed class ProgressStream(Stream inner, Action<long> advanced) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) { var n = inner.Read(buffer, offset, count); advanced(n); return n; }
        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            var n = await inner.ReadAsync(buffer, cancellationToken);
            advanced(n);
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
