namespace Provisioner.Approval;

/// <summary>How the CSR approver inside <c>provisioner serve</c> connects, decides and elects a leader.</summary>
public sealed record ApproverOptions
{
    public const string KubeconfigFileName = "provisioner-approver.kubeconfig";

    /// <summary>False with <c>--no-approver</c>.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>
    /// <c>--kubeconfig FILE</c>; null means the kubeconfig rendered for the approver,
    /// <c>&lt;cluster-dir&gt;/auth/provisioner-approver.kubeconfig</c>, when it exists.
    /// </summary>
    public string? Kubeconfig { get; init; }

    /// <summary>How often to look for the rendered kubeconfig while it does not exist.</summary>
    public TimeSpan KubeconfigPollInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The decision rules; <c>--deny-forged</c> sets <see cref="CsrPolicyOptions.DenyForged"/>.</summary>
    public CsrPolicyOptions Policy { get; init; } = CsrPolicyOptions.Default;

    public string LeaseNamespace { get; init; } = "kube-system";
    public string LeaseName { get; init; } = "provisioner-approver";

    /// <summary>This replica's name in the Lease; unique per process unless given.</summary>
    public string Identity { get; init; } = $"{Environment.MachineName}-{Guid.NewGuid().ToString("N")[..8]}";

    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);
    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Every so often the leader re-lists all CSRs and re-syncs token Secrets, whatever the watch said.</summary>
    public TimeSpan ResyncInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>Capped exponential backoff while the API does not answer.</summary>
    public TimeSpan BackoffInitial { get; init; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan BackoffMax { get; init; } = TimeSpan.FromSeconds(30);

    /// <summary>How many decisions <c>GET /api/v1/approver</c> lists.</summary>
    public int RecentDecisions { get; init; } = 100;

    /// <summary>CSRs are cluster-scoped; their Events go where kubectl looks for them, the default namespace.</summary>
    public string EventNamespace { get; init; } = "default";

    /// <summary>Approval requests in flight at once (a thousand machines may join together).</summary>
    public int Parallelism { get; init; } = 32;

    public static string DefaultKubeconfig(string clusterDirectory) => Path.Combine(clusterDirectory, "auth", KubeconfigFileName);

    /// <summary>The kubeconfig to use and, when there is none, why.</summary>
    public (string? Path, string? WhyNot) ResolveKubeconfig(string clusterDirectory)
    {
        if (!Enabled) return (null, "turned off with --no-approver");
        if (Kubeconfig is { } given)
            return File.Exists(given) ? (Path.GetFullPath(given), null) : (null, $"kubeconfig '{given}' does not exist");
        var rendered = DefaultKubeconfig(clusterDirectory);
        return File.Exists(rendered)
            ? (rendered, null)
            : (null, $"no kubeconfig: give --kubeconfig FILE or render the cluster so that {rendered} exists");
    }
}
