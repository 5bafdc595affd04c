using System.Collections.Concurrent;
using System.Net;
using System.Threading.Channels;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Provisioner.Catalog;
using Provisioner.Inventory;
using Provisioner.Tokens;

namespace Provisioner.Approval;

/// <summary>
/// The leader's work on CSRs: list, then watch from the list's resourceVersion; re-list on 410 Gone and
/// on every resync; reconnect a dropped watch from the last resourceVersion seen. Every CSR that is
/// added or changes is queued and decided; decisions are idempotent (a decided CSR is left alone, a 409
/// is retried on a fresh read, and a CSR this process approved is never approved again).
/// </summary>
internal sealed class CsrReconciler(
    IKubernetes client,
    ApproverOptions options,
    CsrPolicy policy,
    CatalogStore catalog,
    MachineRegistry registry,
    BootstrapTokenStore tokens,
    DecisionRecorder recorder,
    ApproverStatus status,
    ApprovalMetrics metrics,
    TimeProvider time,
    ILogger logger)
{
    private const int MaxBatch = 128;
    private const int MaxAttempts = 5;

    private readonly ConcurrentDictionary<string, V1CertificateSigningRequest> _cache = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _approvedUids = new(StringComparer.Ordinal);
    private readonly Channel<string> _queue = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<string, byte> _queued = new(StringComparer.Ordinal);
    private readonly ClusterInventory _inventory = new();
    private int _deciding;
    // Token clean-up writes the token file; it runs beside the approvals so a join storm is not slowed by it.
    private readonly Channel<V1CertificateSigningRequest> _decided = Channel.CreateUnbounded<V1CertificateSigningRequest>(new UnboundedChannelOptions { SingleReader = true });

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var processing = ProcessAsync(cancellationToken);
        var cleanup = CleanUpAsync(cancellationToken);
        try { await ListAndWatchAsync(cancellationToken); }
        finally
        {
            await processing.ContinueWith(_ => { }, TaskScheduler.Default);
            await cleanup.ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    private async Task CleanUpAsync(CancellationToken ct)
    {
        try
        {
            await foreach (var csr in _decided.Reader.ReadAllAsync(ct))
            {
                // Yield to approvals: during a join storm, the machines waiting for their certificate come first.
                while (Volatile.Read(ref _deciding) > 0 || !_queued.IsEmpty)
                    await Task.Delay(TimeSpan.FromMilliseconds(50), time, ct);
                try { await AfterApprovalAsync(csr, ct); }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    logger.LogWarning("Revoking the bootstrap token used by CSR {Csr} failed: {Error}; the next resync retries", csr.Metadata.Name, e.Message);
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
                        _cache[csr.Metadata!.Name] = csr;
                        Enqueue(csr.Metadata.Name);
                        break;
                    case WatchEventType.Deleted:
                        _cache.TryRemove(csr.Metadata!.Name, out _);
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
            if (!names.Contains(name)) _cache.TryRemove(name, out _);
        foreach (var csr in items) _cache[csr.Metadata.Name] = csr;
        _inventory.Retain(items.Select(i => i.Metadata.Uid ?? i.Metadata.Name).ToHashSet(StringComparer.Ordinal));
        foreach (var csr in items.OrderBy(i => i.Metadata.CreationTimestamp)) Enqueue(csr.Metadata.Name);
    }

    private void Enqueue(string name)
    {
        if (_queued.TryAdd(name, 0)) _queue.Writer.TryWrite(name);
    }

    // ------------------------------------------------------------ decisions

    private async Task ProcessAsync(CancellationToken ct)
    {
        var reader = _queue.Reader;
        var backoff = new Backoff(options.BackoffInitial, options.BackoffMax);
        try
        {
            while (await reader.WaitToReadAsync(ct))
            {
                var batch = new List<string>();
                while (batch.Count < MaxBatch && reader.TryRead(out var name))
                {
                    _queued.TryRemove(name, out _);
                    batch.Add(name);
                }
                Interlocked.Increment(ref _deciding);
                try
                {
                    await DecideBatchAsync(batch, ct);
                    backoff.Reset();
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    var delay = backoff.Next();
                    logger.LogWarning("Deciding {Count} CSRs failed: {Error}; retrying in {Delay}", batch.Count, e.Message, delay);
                    await Task.Delay(delay, time, ct);
                    foreach (var name in batch) Enqueue(name);
                }
                finally { Interlocked.Decrement(ref _deciding); }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    private async Task DecideBatchAsync(List<string> batch, CancellationToken ct)
    {
        // One snapshot per batch: under a join storm, one Node list serves hundreds of decisions.
        var nodes = await client.CoreV1.ListNodeAsync(cancellationToken: ct);
        var pending = _cache.Values.Where(c => !ClusterInventory.IsDecided(c) && !_approvedUids.ContainsKey(c.Metadata.Uid ?? "")).ToList();
        var inventory = _inventory.Build(catalog.Current.Profiles, registry.LastIgnitionFetch, tokens.All, time.GetUtcNow(), nodes.Items, pending);
        var ordered = batch.Select(n => _cache.GetValueOrDefault(n)).OfType<V1CertificateSigningRequest>()
            .OrderBy(c => c.Metadata.CreationTimestamp).Select(c => c.Metadata.Name);
        await Parallel.ForEachAsync(ordered, new ParallelOptions { MaxDegreeOfParallelism = options.Parallelism, CancellationToken = ct },
            async (name, token) => await ReconcileAsync(name, inventory, token));
        var stillPending = _cache.Values.Count(c => !ClusterInventory.IsDecided(c) && !_approvedUids.ContainsKey(c.Metadata.Uid ?? ""));
        metrics.Pending.Set(stillPending);
        status.SetPending(stillPending);
    }

    private async Task ReconcileAsync(string name, ICsrInventory inventory, CancellationToken ct)
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

            var decision = policy.Decide(ClusterInventory.Facts(csr), inventory);
            if (decision.Verdict == CsrVerdict.LeavePending)
            {
                recorder.Record(csr, decision, onlyIfChanged: true);
                return;
            }

            try
            {
                var updated = await client.CertificatesV1.ReplaceCertificateSigningRequestApprovalAsync(WithCondition(csr, decision), name, cancellationToken: ct);
                _approvedUids.TryAdd(updated.Metadata.Uid ?? "", 0);
                _cache[name] = updated;
                recorder.Record(updated, decision, onlyIfChanged: false);
                _decided.Writer.TryWrite(updated);
                return;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                logger.LogInformation("CSR {Csr} changed while deciding it (409 Conflict); deciding again on a fresh read", name);
                try { _cache[name] = await client.CertificatesV1.ReadCertificateSigningRequestAsync(name, cancellationToken: ct); }
                catch (HttpOperationException gone) when (gone.Response.StatusCode == HttpStatusCode.NotFound) { _cache.TryRemove(name, out _); return; }
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
                _cache.TryRemove(name, out _);
                return;
            }
        }
        logger.LogWarning("CSR {Csr} kept changing under {Attempts} attempts to decide it; the next pass will try again", name, MaxAttempts);
        Enqueue(name);
    }

    private V1CertificateSigningRequest WithCondition(V1CertificateSigningRequest csr, CsrDecision decision)
    {
        // A copy: the cached object is shared with concurrent readers.
        var copy = KubernetesJson.Deserialize<V1CertificateSigningRequest>(KubernetesJson.Serialize(csr));
        copy.Status ??= new V1CertificateSigningRequestStatus();
        var now = time.GetUtcNow().UtcDateTime;
        copy.Status.Conditions = [.. copy.Status.Conditions ?? [], new V1CertificateSigningRequestCondition
        {
            Type = decision.Verdict == CsrVerdict.Approve ? "Approved" : "Denied",
            Status = "True",
            Reason = decision.Verdict == CsrVerdict.Approve ? DecisionRecorder.ApprovedConditionReason : DecisionRecorder.DeniedConditionReason,
            Message = $"{decision.Reason}: {decision.Message}",
            LastUpdateTime = now,
            LastTransitionTime = now,
        }];
        return copy;
    }

    /// <summary>
    /// Once a machine's node-client CSR made with its bootstrap token is approved, the token has done its
    /// job: its Secret is deleted and the token revoked, so it cannot be used again.
    /// </summary>
    private async Task AfterApprovalAsync(V1CertificateSigningRequest csr, CancellationToken ct)
    {
        if (!ClusterInventory.IsApproved(csr) || csr.Spec.SignerName != CsrSigners.KubeletClient) return;
        if (csr.Spec.Username is not { } user || !user.StartsWith(BootstrapToken.UserPrefix, StringComparison.Ordinal)) return;
        if (tokens.FindById(user[BootstrapToken.UserPrefix.Length..]) is not { } token) return;
        // Revoked first: should deleting the Secret fail, the token Secret sync removes it as an orphan.
        await tokens.RevokeAsync(token.Id, ct);
        try { await client.CoreV1.DeleteNamespacedSecretAsync(token.SecretName, "kube-system", cancellationToken: ct); }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound) { }
        logger.LogInformation("Bootstrap token {TokenId} of machine {Machine} revoked and its Secret deleted: CSR {Csr} was approved",
            token.Id, token.MachineName, csr.Metadata.Name);
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
