namespace Provisioner.Approval;

/// <summary>What the approver is doing, for <c>/readyz</c> and <c>GET /api/v1/approver</c>.</summary>
internal static class ApproverStates
{
    public const string Starting = "starting";
    public const string Disabled = "disabled";
    public const string WaitingForApi = "waiting-for-api";
    public const string Standby = "standby";
    public const string Leader = "leader";
}

/// <summary>One decision as shown to operators.</summary>
internal sealed record DecisionRecord(
    DateTimeOffset At, string Csr, string Signer, string Requester, string Decision, string Reason, string Message,
    string? Node, string? Machine);

internal sealed record ApproverView(
    string State, string? Detail, string Identity, string? Leader, string? Kubeconfig, int Pending, int Nodes,
    IReadOnlyList<DecisionRecord> RecentDecisions);

/// <summary>Thread-safe state of the approver: written by the worker, read by HTTP handlers.</summary>
internal sealed class ApproverStatus(ApproverOptions options)
{
    private readonly object _gate = new();
    private readonly LinkedList<DecisionRecord> _recent = new();
    private string _state = ApproverStates.Starting;
    private string? _detail;
    private string? _leader;
    private string? _kubeconfig;
    private int _pending;
    private int _nodes;

    /// <summary>Raised after any change, outside the lock; subscribers only flag work (the console's change feed).</summary>
    public event Action? Changed;

    public string State { get { lock (_gate) return _state; } }

    public string? Detail { get { lock (_gate) return _detail; } }

    public void Set(string state, string? detail)
    {
        lock (_gate) (_state, _detail) = (state, detail);
        Changed?.Invoke();
    }

    public void SetLeader(string? leader) { lock (_gate) _leader = leader; Changed?.Invoke(); }

    /// <summary>This replica leads; <paramref name="problem"/>, when given, says what keeps it from deciding.</summary>
    public void SetLeading(string? problem = null)
    {
        var lease = $"holds lease {options.LeaseNamespace}/{options.LeaseName}";
        Set(ApproverStates.Leader, problem is null ? lease : $"{lease}, but {problem}");
    }

    public void SetKubeconfig(string path) { lock (_gate) _kubeconfig = path; }

    public void SetPending(int pending) { lock (_gate) _pending = pending; Changed?.Invoke(); }

    /// <summary>How many Nodes the leader's watch knows (a first join is approved only for a node it does not).</summary>
    public void SetNodes(int nodes) { lock (_gate) _nodes = nodes; Changed?.Invoke(); }

    public void Record(DecisionRecord decision)
    {
        lock (_gate)
        {
            _recent.AddFirst(decision);
            while (_recent.Count > options.RecentDecisions) _recent.RemoveLast();
        }
        Changed?.Invoke();
    }

    /// <summary>Newest first.</summary>
    public ApproverView View()
    {
        lock (_gate) return new ApproverView(_state, _detail, options.Identity ?? "", _leader, _kubeconfig, _pending, _nodes, [.. _recent]);
    }
}
