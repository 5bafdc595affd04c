using System.Collections.Concurrent;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;
using Provisioner.Inventory;
using Provisioner.Tokens;

namespace Provisioner.Approval;

/// <summary>
/// The leader's work on CSRs: list, then watch from the list's resourceVersion; re-list on 410 Gone and
/// on every resync; reconnect a dropped watch from the last resourceVersion seen. Every CSR that is
/// added or changes is queued and decided by one of <see cref="ApproverOptions.Parallelism"/> workers as
/// soon as one is free; decisions are idempotent (a decided CSR is left alone, a 409 is retried on a fresh
/// read, and a CSR this process approved is never approved again). A CSR left pending is decided again as soon as
/// the evidence about its machine changes: an Ignition delivery, a token, its Node, or another of its CSRs leaving
/// pending. A machine's bootstrap tokens are revoked once its Node registers, the proof that a kubelet holds a
/// working certificate — not at approval, when the kubelet that asked may already be gone.
/// </summary>
internal sealed class CsrReconciler
{
    private const int MaxAttempts = 5;
    private static readonly ResiliencePropertyKey<string> CsrName = new("csr");
    // Work that can wait (token clean-up, Events) yields to decisions this long at most.
    private static readonly TimeSpan YieldAtMost = TimeSpan.FromSeconds(10);

    private readonly IKubernetes _client;
    private readonly ApproverOptions _options;
    private readonly CsrPolicy _policy;
    private readonly ClusterInventory _inventory;
    private readonly BootstrapTokenStore _tokens;
    private readonly MachineStateStore _machineState;
    private readonly DecisionRecorder _recorder;
    private readonly ApproverStatus _status;
    private readonly ApprovalMetrics _metrics;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CsrDecisionWriter _writer;
    private readonly RegisteredNodeTokenRevoker _revoker;
    // A decision that fails (the API answers 5xx, or does not answer) is tried again after initial, 2×, 4×, … up to the cap.
    private readonly ResiliencePipeline _retry;

    private readonly Informer<V1CertificateSigningRequest> _csrs;
    // Nodes as the watch reports them: the first-join rule needs to know whether a Node exists, and a join
    // storm must not cost one Node read per CSR. A Node registers only after its kubelet's first client
    // certificate was approved, so a legitimate first join never races its own Node.
    private readonly Informer<V1Node> _nodes;
    private readonly ConcurrentDictionary<string, byte> _approvedUids = new(StringComparer.Ordinal);
    private readonly WorkQueue _queue = new();
    // CSRs held by the cluster-wide cap: decided again whenever any CSR leaves pending.
    private readonly ConcurrentDictionary<string, byte> _heldForTotal = new(StringComparer.Ordinal);
    // Until CSRs and Nodes are listed the leader decides nothing: it says why where operators look, not only in the log.
    private readonly ConcurrentDictionary<string, string> _listProblems = new(StringComparer.Ordinal);

    public CsrReconciler(IKubernetes client, ApproverOptions options, CsrPolicy policy, ClusterInventory inventory, BootstrapTokenStore tokens,
        MachineStateStore machineState, DecisionRecorder recorder, ApproverStatus status, ApprovalMetrics metrics, TimeProvider time, ILogger logger)
    {
        (_client, _options, _policy, _inventory, _tokens, _machineState) = (client, options, policy, inventory, tokens, machineState);
        (_recorder, _status, _metrics, _time, _logger) = (recorder, status, metrics, time, logger);
        _writer = new CsrDecisionWriter(client, time);
        // Nodes seen registered: their machines' tokens are revoked beside the approvals, so a join storm is not slowed by it.
        _revoker = new RegisteredNodeTokenRevoker(client, inventory, tokens, machineState, logger);
        _retry = new ResiliencePipelineBuilder { TimeProvider = time }.AddRetry(new RetryStrategyOptions
        {
            ShouldHandle = args => ValueTask.FromResult(args.Outcome.Exception is not null && !args.Context.CancellationToken.IsCancellationRequested),
            BackoffType = DelayBackoffType.Exponential,
            UseJitter = false,
            Delay = options.BackoffInitial,
            MaxDelay = options.BackoffMax,
            MaxRetryAttempts = int.MaxValue,
            OnRetry = args =>
            {
                args.Context.Properties.TryGetValue(CsrName, out var name);
                logger.LogWarning(args.Outcome.Exception, "Deciding CSR {Csr} failed; retrying in {Delay}", name, args.RetryDelay);
                return ValueTask.CompletedTask;
            },
        }).Build();
        _csrs = new Informer<V1CertificateSigningRequest>("CSR",
            Informer<V1CertificateSigningRequest>.Listing(ct => client.CertificatesV1.ListCertificateSigningRequestAsync(cancellationToken: ct)),
            (rv, timeout, onError, ct) => client.CertificatesV1.WatchListCertificateSigningRequestAsync(
                resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: timeout, onError: onError, cancellationToken: ct),
            options, time, logger)
        {
            Listed = items =>
            {
                ReportListed("CSRs");
                OnCsrsListed(items);
            },
            Changed = OnCsrChanged,
            ListFailed = e => ReportListFailed("CSRs", e),
        };
        _nodes = new Informer<V1Node>("Node",
            Informer<V1Node>.Listing(ct => client.CoreV1.ListNodeAsync(cancellationToken: ct)),
            (rv, timeout, onError, ct) => client.CoreV1.WatchListNodeAsync(
                resourceVersion: rv, allowWatchBookmarks: true, timeoutSeconds: timeout, onError: onError, cancellationToken: ct),
            options, time, logger)
        {
            Listed = items =>
            {
                ReportListed("Nodes");
                OnNodesListed(items);
            },
            Changed = OnNodeChanged,
            ListFailed = e => ReportListFailed("Nodes", e),
        };
    }

    /// <summary>True when no CSR is queued or being decided.</summary>
    public bool IsIdle => _queue.IsIdle;

    /// <summary>Waits (a bounded time) until no CSR is queued or being decided.</summary>
    public Task WhenIdleAsync(CancellationToken ct) => _queue.WhenIdleAsync(YieldAtMost, _time, ct);

    public async Task RunAsync(CancellationToken cancellationToken)
    {
        var workers = Enumerable.Range(0, Math.Max(1, _options.Parallelism)).Select(_ => WorkAsync(cancellationToken)).ToList();
        var cleanup = _revoker.RunAsync(WhenIdleAsync, cancellationToken);
        _machineState.Changed += OnMachinesChanged;
        _tokens.Changed += OnTokensChanged;
        try { await Task.WhenAll(_csrs.RunAsync(cancellationToken), _nodes.RunAsync(cancellationToken)); }
        finally
        {
            _machineState.Changed -= OnMachinesChanged;
            _tokens.Changed -= OnTokensChanged;
            foreach (var task in workers.Append(cleanup))
                await task.ContinueWith(_ => { }, TaskScheduler.Default);
        }
    }

    // ------------------------------------------------------------ the CSR cache

    private void OnCsrsListed(IReadOnlyList<V1CertificateSigningRequest> items)
    {
        // Every CSR is counted as pending or not before the first is decided: caps see them all.
        foreach (var csr in items) _inventory.Track(csr, IsPending(csr));
        foreach (var csr in items.OrderBy(i => i.Metadata.CreationTimestamp)) _queue.Add(csr.Metadata.Name);
    }

    private void OnCsrChanged(WatchEventType type, V1CertificateSigningRequest csr)
    {
        if (type == WatchEventType.Deleted)
        {
            Forget(csr);
            return;
        }
        Track(csr);
        _queue.Add(csr.Metadata.Name);
    }

    private void OnNodesListed(IReadOnlyList<V1Node> nodes)
    {
        _status.SetNodes(_nodes.Count);
        foreach (var node in nodes) OnNodeRegistered(node);
    }

    private void OnNodeChanged(WatchEventType type, V1Node node)
    {
        _status.SetNodes(_nodes.Count);
        // node-exists, and the Node's addresses for serving CSRs: what its pending CSRs were held for may have changed.
        Requeue(_inventory.PendingOfNode(node.Metadata.Name));
        if (type is WatchEventType.Added or WatchEventType.Modified) OnNodeRegistered(node);
    }

    private void OnNodeRegistered(V1Node node)
    {
        if (_inventory.MachineOfNode(node.Metadata.Name) is not { } machine) return;
        var state = _machineState.Get(machine);
        // A Node older than the machine's current round (an operator reprovisioned it) is the last round's: it is no
        // proof that the new round's kubelet holds a certificate.
        if (state?.ArmedAt is { } armed && node.Metadata.CreationTimestamp is { } created
            && new DateTimeOffset(DateTime.SpecifyKind(created, DateTimeKind.Utc)) < armed) return;
        if (_tokens.ForMachine(machine).Length > 0 || state?.JoinedAt is null)
            _revoker.NodeRegistered(node.Metadata.Name);
    }

    /// <summary>A machine was given its Ignition config (or joined): its CSRs held for "never fetched" may pass now.</summary>
    private void OnMachinesChanged(IReadOnlyCollection<string> machines)
    {
        foreach (var machine in machines) Requeue(_inventory.PendingOfMachine(machine));
    }

    /// <summary>A token minted elsewhere (provisioner render) may be the one a pending CSR was sent with.</summary>
    private void OnTokensChanged() => Requeue(_inventory.PendingFromBootstrapTokens());

    private void Requeue(IEnumerable<string> csrNames)
    {
        foreach (var name in csrNames) _queue.Add(name);
    }

    /// <summary>Records the CSR's pending state; when it left pending, what its machine's other CSRs wait for may have changed.</summary>
    private void Track(V1CertificateSigningRequest csr)
    {
        if (_inventory.Track(csr, IsPending(csr))) OnLeftPending(csr);
    }

    private void OnLeftPending(V1CertificateSigningRequest csr)
    {
        if (_inventory.NodeNameOf(csr) is { } node && _inventory.MachineOfNode(node) is { } machine)
            Requeue(_inventory.PendingOfMachine(machine));
        if (!_heldForTotal.IsEmpty)
            foreach (var name in _heldForTotal.Keys)
                if (_heldForTotal.TryRemove(name, out _)) _queue.Add(name);
    }

    private void ReportListFailed(string what, Exception e)
    {
        _listProblems[what] = $"listing {what} fails ({e.Message})";
        ReportListProblems();
    }

    private void ReportListed(string what)
    {
        if (_listProblems.TryRemove(what, out _)) ReportListProblems();
    }

    private void ReportListProblems() =>
        _status.SetLeading(_listProblems.IsEmpty ? null : string.Join("; ", _listProblems.Values.Order(StringComparer.Ordinal)));

    /// <summary>A CSR this process read or wrote itself, ahead of the watch.</summary>
    private void Observe(V1CertificateSigningRequest csr)
    {
        _csrs.Put(csr);
        Track(csr);
    }

    private void Remove(string name)
    {
        if (_csrs.Remove(name, out var csr)) Forget(csr!);
    }

    private void Forget(V1CertificateSigningRequest csr)
    {
        var wasPending = _inventory.Forget(csr);
        _approvedUids.TryRemove(csr.Metadata.Uid ?? "", out _);
        _heldForTotal.TryRemove(csr.Metadata.Name, out _);
        if (wasPending) OnLeftPending(csr);
    }

    private bool IsPending(V1CertificateSigningRequest csr) =>
        !ClusterInventory.IsDecided(csr) && !_approvedUids.ContainsKey(csr.Metadata.Uid ?? "");

    // ------------------------------------------------------------ decisions

    private async Task WorkAsync(CancellationToken ct)
    {
        try
        {
            await Task.WhenAll(_csrs.Synced, _nodes.Synced).WaitAsync(ct);
            while (!ct.IsCancellationRequested)
            {
                var name = await _queue.TakeAsync(ct);
                var context = ResilienceContextPool.Shared.Get(ct);
                context.Properties.Set(CsrName, name);
                try
                {
                    await _retry.ExecuteAsync(static (context, state) => new ValueTask(state.Self.ReconcileAsync(state.Name, context.CancellationToken)),
                        context, (Self: this, Name: name));
                }
                finally
                {
                    ResilienceContextPool.Shared.Return(context);
                    _queue.Done(name);
                    var pending = _inventory.TotalPending;
                    _metrics.Pending.Set(pending);
                    _status.SetPending(pending);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    private async Task ReconcileAsync(string name, CancellationToken ct)
    {
        for (var attempt = 0; attempt < MaxAttempts; attempt++)
        {
            if (_csrs.Get(name) is not { } csr) return;
            if (ClusterInventory.IsDecided(csr)) return;
            // Approved by us, and the watch has not caught up yet.
            if (_approvedUids.ContainsKey(csr.Metadata.Uid ?? "")) return;

            var decision = _policy.Decide(_inventory.FactsOf(csr), _inventory.For(FindNode));
            if (decision.Verdict == CsrVerdict.LeavePending)
            {
                if (decision.Reason == CsrReasons.PendingCapTotal) _heldForTotal.TryAdd(name, 0);
                _recorder.Record(csr, decision, onlyIfChanged: true);
                return;
            }

            try
            {
                var updated = await _writer.WriteAsync(csr, decision, ct);
                _approvedUids.TryAdd(updated.Metadata.Uid ?? "", 0);
                Observe(updated);
                _recorder.Record(updated, decision, onlyIfChanged: false);
                return;
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Conflict)
            {
                _logger.LogInformation("CSR {Csr} changed while deciding it (409 Conflict); deciding again on a fresh read", name);
                try { Observe(await _client.CertificatesV1.ReadCertificateSigningRequestAsync(name, cancellationToken: ct)); }
                catch (HttpOperationException gone) when (gone.Response.StatusCode == HttpStatusCode.NotFound) { Remove(name); return; }
            }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound)
            {
                Remove(name);
                return;
            }
        }
        _logger.LogWarning("CSR {Csr} kept changing under {Attempts} attempts to decide it; the next pass will try again", name, MaxAttempts);
        _queue.Add(name);
    }

    private NodeFacts? FindNode(string name) => _nodes.Get(name) is { } node ? ClusterInventory.ToNodeFacts(node) : null;
}
