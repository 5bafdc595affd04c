using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Provisioner.Tokens;

namespace Provisioner.Approval;

/// <summary>
/// The leader's work on CSRs: list, then watch from the list's resourceVersion; re-list on 410 Gone and
/// on every resync; reconnect a dropped watch from the last resourceVersion seen. Every CSR that is
/// added or changes is queued and decided by one of <see cref="ApproverOptions.Parallelism"/> workers as
/// soon as one is free; decisions are idempotent (a decided CSR is left alone, a 409 is retried on a fresh
/// read, and a CSR this process approved is never approved again).
/// </summary>
internal sealed class CsrReconciler(
    IKubernetes client,
    ApproverOptions options,
    CsrPolicy policy,
    ClusterInventory inventory,
    BootstrapTokenStore tokens,
    DecisionRecorder recorder,
    ApproverStatus status,
    ApprovalMetrics metrics,
    TimeProvider time,
    ILogger logger)
{
    private const int MaxAttempts = 5;
    // Work that can wait (token clean-up, Events) yields to decisions this long at most.
    private static readonly TimeSpan YieldAtMost = TimeSpan.FromSeconds(10);

    private readonly ConcurrentDictionary<string, V1CertificateSigningRequest> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _approvedUids = new(StringComparer.Ordinal);
    private readonly WorkQueue _queue = new();
    // Token clean-up writes the token file; it runs beside the approvals so a join storm is not slowed by it.
    private readonly Channel<V1CertificateSigningRequest> _decided = Channel.CreateUnbounded<V1CertificateSigningRequest>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Waits (a bounded time) until no CSR is queued or being decided.</summary>
    public Task WhenIdleAsync(CancellationToken ct) => _queue.WhenIdleAsync(YieldAtMost, time, ct);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var workers = Enumerable.Range(0, Math.Max(1, options.Parallelism)).Select(_ => WorkAsync(cancellationToken)).ToList();
        var cleanup = CleanUpAsync(cancellationToken);
        try { await ListAndWatchAsync(cancellationToken); }
        finally
        {
            foreach (var task in workers.Append(cleanup))
                await task.ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private async Task CleanUpAsync(CancellationToken ct)
    {
        var reader = _decided.Reader;
        try
        {
            while (await reader.WaitToReadAsync(ct))
            {
                // During a join storm, the machines waiting for their certificate come first; then one store
                // write revokes every token used since.
                await WhenIdleAsync(ct);
                var decided = new List<V1CertificateSigningRequest>();
                while (reader.TryRead(out var csr)) decided.Add(csr);
                try { await RevokeUsedTokensAsync(decided, ct); }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    logger.LogWarning("Revoking the bootstrap tokens used by {Count} approved CSRs failed: {Error}; the next resync retries", decided.Count, e.Message);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    // ------------------------------------------------------------ list + watch

    private async Task ListAndWatchAsync(CancellationToken ct)
    {
        var backoff = new Backoff(options.BackoffInitial, options.BackoffMax);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var list = await client.CertificatesV1.ListCertificateSigningRequestAsync(cancellationToken: ct);
                ReplaceCache(list.Items);
                var rv = list.Metadata.ResourceVersion;
                logger.LogDebug("Listed {Count} CSRs at resourceVersion {ResourceVersion}", list.Items.Count, rv);
                var resyncAt = time.GetUtcNow() + options.ResyncInterval;
                backoff.Reset();
                while (!ct.IsCancellationRequested && time.GetUtcNow() < resyncAt)
                {
                    var (next, gone, delivered, failure) = await WatchAsync(rv, resyncAt, ct);
                    if (gone)
                    {
                        logger.LogInformation("CSR watch from resourceVersion {ResourceVersion} is too old (410 Gone); listing again", rv);
                        break;
                    }
                    rv = next;
                    if (failure is not null)
                    {
                        logger.LogInformation("CSR watch dropped ({Error}); reconnecting from resourceVersion {ResourceVersion}", failure.Message, rv);
                        if (!delivered) await Task.Delay(backoff.Next(), time, ct);
                    }
                    if (delivered) backoff.Reset();
                }
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                var delay = backoff.Next();
                logger.LogWarning("Listing CSRs failed: {Error}; retrying in {Delay}", e.Message, delay);
                await Task.Delay(delay, time, ct);
            }
        }
    }

    private async Task<(string ResourceVersion, bool Gone, bool Delivered, Exception? Failure)> WatchAsync(string rv, DateTimeOffset until, CancellationToken ct)
    {
        var remaining = until - time.GetUtcNow();
        if (remaining <= TimeSpan.Zero) return (rv, false, false, null);
        // The server ends the watch at the resync time (timeoutSeconds) rather than this side cancelling it:
        // a watch cancelled while the client still waits for its first line would leave its connection behind.
        var gone = false;
        var delivered = false;
        Exception? streamError = null;
        try
        {
            await foreach (var (type, csr) in client.CertificatesV1.WatchListCertificateSigningRequestAsync(
                               resourceVersion: rv, allowWatchBookmarks: true,
                               timeoutSeconds: (int)Math.Ceiling(remaining.TotalSeconds),
                               onError: e =>
                               {
                                   if (e is KubernetesException { Status.Code: 410 }) gone = true;
                                   else streamError = e;
                               },
                               cancellationToken: ct))
            {
                delivered = true;
                rv = csr.Metadata?.ResourceVersion ?? rv;
                switch (type)
                {
                    case WatchEventType.Added or WatchEventType.Modified:
                        Observe(csr);
                        _queue.Add(csr.Metadata!.Name);
                        break;
                    case WatchEventType.Deleted:
                        Remove(csr.Metadata!.Name);
                        break;
                }
            }
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Gone)
        {
            gone = true;
        }
        catch (Exception e) when (!ct.IsCancellationRequested && e is IOException or HttpRequestException or HttpOperationException)
        {
            return (rv, gone, delivered, e);
        }
        return (rv, gone, delivered, streamError);
    }

    private void ReplaceCache(IList<V1CertificateSigningRequest> items)
    {
        var names = items.Select(i => i.Metadata.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in _cache.Keys)
            if (!names.Contains(name)) Remove(name);
        // Every CSR is in the cache (and counted as pending or not) before the first is decided: caps see them all.
        foreach (var csr in items) Observe(csr);
        foreach (var csr in items.OrderBy(i => i.Metadata.CreationTimestamp)) _queue.Add(csr.Metadata.Name);
    }

    private void Observe(V1CertificateSigningRequest csr)
    {
        _cache[csr.Metadata.Name] = csr;
        inventory.Track(csr, IsPending(csr));
    }

    private void Remove(string name)
    {
        if (_cache.TryRemove(name, out var csr)) inventory.Forget(csr);
    }

    private bool IsPending(V1CertificateSigningRequest csr) =>
        !ClusterInventory.IsDecided(csr) && !_approvedUids.ContainsKey(csr.Metadata.Uid ?? "");

    // ------------------------------------------------------------ decisions

    private async Task WorkAsync(CancellationToken ct)
    {
        var backoff = new Backoff(options.BackoffInitial, options.BackoffMax);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var name = await _queue.TakeAsync(ct);
                TimeSpan? retryIn = null;
                try
                {
                    await ReconcileAsync(name, ct);
                    backoff.Reset();
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    retryIn = backoff.Next();
                    logger.LogWarning("Deciding CSR {Csr} failed: {Error}; retrying in {Delay}", name, e.Message, retryIn);
                }
                finally
                {
                    _queue.Done(name);
                    var pending = inventory.TotalPending;
                    metrics.Pending.Set(pending);
                    status.SetPending(pending);
                }
                if (retryIn is { } delay)
                {
                    await Task.Delay(delay, time, ct);
                    _queue.Add(name);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    private async Task ReconcileAsync(string name, CancellationToken ct)
    {
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            if (!_cache.TryGetValue(name, out var csr)) return;
            if (ClusterInventory.IsDecided(csr))
            {
                _decided.Writer.TryWrite(csr);
                return;
            }
            // Approved by us, and the watch has not caught up yet.
            if (_approvedUids.ContainsKey(csr.Metadata.Uid ?? "")) return;

            // Whether the node exists is read fresh for every decision: a cache can prove that a Node
            // exists, never that it does not, and a first join is approved only for a node that does not.
            var nodeName = inventory.NodeNameOf(csr);
            var lookUp = nodeName is not null && inventory.IsProvisioned(nodeName);
            var node = lookUp ? await ReadNodeAsync(nodeName!, ct) : null;
            var decision = policy.Decide(ClusterInventory.Facts(csr), inventory.For(nodeName, node, lookUp));
            if (decision.Verdict == CsrVerdict.LeavePending)
            {
                recorder.Record(csr, decision, onlyIfChanged: true);
                return;
            }

            try
            {
                var updated = await client.CertificatesV1.ReplaceCertificateSigningRequestApprovalAsync(WithCondition(csr, decision), name, cancellationToken: ct);
                _approvedUids.TryAdd(updated.Metadata.Uid ?? "", 0);
                Observe(updated);
                recorder.Record(updated, decision, onlyIfChanged: false);
                _decided.Writer.TryWrite(updated);
                return;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                logger.LogInformation("CSR {Csr} changed while deciding it (409 Conflict); deciding again on a fresh read", name);
                try { Observe(await client.CertificatesV1.ReadCertificateSigningRequestAsync(name, cancellationToken: ct)); }
                catch (HttpOperationException gone) when (gone.Response.StatusCode == HttpStatusCode.NotFound) { Remove(name); return; }
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
                Remove(name);
                return;
            }
        }
        logger.LogWarning("CSR {Csr} kept changing under {Attempts} attempts to decide it; the next pass will try again", name, MaxAttempts);
        _queue.Add(name);
    }

    private async Task<NodeFacts?> ReadNodeAsync(string name, CancellationToken ct)
    {
        try { return ClusterInventory.ToNodeFacts(await client.CoreV1.ReadNodeAsync(name, cancellationToken: ct)); }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound) { return null; }
    }

    private V1CertificateSigningRequest WithCondition(V1CertificateSigningRequest csr, CsrDecision decision)
    {
        // A new object around the cached metadata and spec, which are only read: the cached CSR itself is
        // shared with concurrent readers and stays as the API server sent it.
        var now = time.GetUtcNow().UtcDateTime;
        return new V1CertificateSigningRequest
        {
            ApiVersion = csr.ApiVersion,
            Kind = csr.Kind,
            Metadata = csr.Metadata,
            Spec = csr.Spec,
            Status = new V1CertificateSigningRequestStatus
            {
                Certificate = csr.Status?.Certificate,
                Conditions = [.. csr.Status?.Conditions ?? [], new V1CertificateSigningRequestCondition
                {
                    Type = decision.Verdict == CsrVerdict.Approve ? "Approved" : "Denied",
                    Status = "True",
                    Reason = decision.Verdict == CsrVerdict.Approve ? DecisionRecorder.ApprovedConditionReason : DecisionRecorder.DeniedConditionReason,
                    Message = $"{decision.Reason}: {decision.Message}",
                    LastUpdateTime = now,
                    LastTransitionTime = now,
                }],
            },
        };
    }

    /// <summary>
    /// Once a machine's node-client CSR made with its bootstrap token is approved, the token has done its
    /// job: it is revoked (one write of the store for all of them) and its Secret deleted, so it cannot be
    /// used again.
    /// </summary>
    private async Task RevokeUsedTokensAsync(IReadOnlyList<V1CertificateSigningRequest> decided, CancellationToken ct)
    {
        var used = decided
            .Where(csr => ClusterInventory.IsApproved(csr) && csr.Spec.SignerName == CsrSigners.KubeletClient)
            .Select(csr => csr.Spec.Username is { } user && user.StartsWith(BootstrapToken.UserPrefix, StringComparison.Ordinal)
                ? (Csr: csr.Metadata.Name, TokenId: user[BootstrapToken.UserPrefix.Length..]) : default)
            .Where(u => u.TokenId is not null && tokens.FindById(u.TokenId) is not null)
            .ToList();
        if (used.Count == 0) return;
        // Revoked first: should deleting a Secret fail, the token Secret sync removes it as an orphan.
        var revoked = await tokens.RevokeAsync([.. used.Select(u => u.TokenId)], ct);
        foreach (var token in revoked)
        {
            try { await client.CoreV1.DeleteNamespacedSecretAsync(token.SecretName, "kube-system", cancellationToken: ct); }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound) { }
            logger.LogInformation("Bootstrap token {TokenId} of machine {Machine} revoked and its Secret deleted: CSR {Csr} was approved",
                token.Id, token.MachineName, used.First(u => u.TokenId == token.Id).Csr);
        }
    }
}

/// <summary>Capped exponential backoff: initial, 2×, 4×, … up to the cap.</summary>
internal sealed class Backoff(TimeSpan initial, TimeSpan max)
{
    private readonly TimeSpan _initial = initial;
    private TimeSpan _next = initial;

    public TimeSpan Next()
    {
        var current = _next;
        _next = TimeSpan.FromTicks(Math.Min(max.Ticks, _next.Ticks * 2));
        return current;
    }

    public void Reset() => _next = _initial;
}
