namespace Provisioner.Approval;

/// <summary>How the CSR approver inside <c>provisioner serve</c> connects, decides and elects a leader.</summary>
internal sealed record ApproverOptions
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

    /// <summary>
    /// This replica's name in the Lease; null means <see cref="StableIdentity"/> of the cluster directory (see
    /// <see cref="ForCluster"/>), so that a restarted <c>serve</c> retakes its own lease at once.
    /// </summary>
    public string? Identity { get; init; }

    public TimeSpan LeaseDuration { get; init; } = TimeSpan.FromSeconds(15);
    public TimeSpan RenewDeadline { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan RetryPeriod { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Every so often the leader re-lists all CSRs and re-syncs token Secrets, whatever the watch said.</summary>
    public TimeSpan ResyncInterval { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Capped exponential backoff (see <see cref="Backoff"/>) between attempts while the API fails: up to
    /// <see cref="BackoffMax"/> while it answers with errors (5xx, 403, …), up to <see cref="UnreachableBackoffMax"/>
    /// while it cannot be reached at all (before first contact, and after losing it), so that the approver notices
    /// within that long that it is back.
    /// </summary>
    public TimeSpan BackoffInitial { get; init; } = TimeSpan.FromMilliseconds(500);
    public TimeSpan BackoffMax { get; init; } = TimeSpan.FromSeconds(30);
    public TimeSpan UnreachableBackoffMax { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How many decisions <c>GET /api/v1/approver</c> lists.</summary>
    public int RecentDecisions { get; init; } = 100;

    /// <summary>CSRs are cluster-scoped; their Events go where kubectl looks for them, the default namespace.</summary>
    public string EventNamespace { get; init; } = "default";

    /// <summary>Approval requests in flight at once (a thousand machines may join together).</summary>
    public int Parallelism { get; init; } = 32;

    /// <summary>
    /// <c>&lt;host name&gt;-&lt;8 hex digits of SHA-256 of the full cluster directory path&gt;</c>: replicas on two hosts
    /// differ, and one <c>serve</c> restarted on the same host for the same cluster is the same holder of the Lease.
    /// </summary>
    public static string StableIdentity(string clusterDirectory)
    {
        var path = Path.TrimEndingDirectorySeparator(Path.GetFullPath(clusterDirectory));
        var hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(path)));
        return $"{Environment.MachineName.ToLowerInvariant()}-{hash[..8]}";
    }

    /// <summary>These options with <see cref="Identity"/> set: as given, or the stable identity for <paramref name="clusterDirectory"/>.</summary>
    public ApproverOptions ForCluster(string clusterDirectory) =>
        Identity is null ? this with { Identity = StableIdentity(clusterDirectory) } : this;

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
