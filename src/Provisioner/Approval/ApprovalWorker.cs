using k8s;
using k8s.Autorest;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Provisioner.Catalog;
using Provisioner.Inventory;
using Provisioner.Tokens;
using Provisioner.Primitives;

namespace Provisioner.Approval;

/// <summary>
/// The CSR approver inside <c>provisioner serve</c>: connects with its kubeconfig, then runs one election term
/// after another, forever: each term checks that the API answers, takes part in leader election on a Lease and,
/// while this replica leads, decides CSRs (<see cref="CsrReconciler"/>) and keeps bootstrap token Secrets in
/// step (<see cref="TokenSecretSync"/>); other replicas stand by. A term that fails — the API gone (connection
/// refused during an API server restart or the bootstrap → control-plane handover), an answer that is an error,
/// a fault in the leader's work — ends that term only: the approver says so in <c>/api/v1/approver</c> and
/// <c>/readyz</c> and starts the next term after a capped exponential backoff (<see cref="Backoff"/>).
/// </summary>
internal sealed class ApprovalWorker(
    ClusterDirectoryPath clusterDirectory,
    ApproverOptions options,
    ApproverStatus status,
    ApprovalMetrics metrics,
    CatalogStore catalog,
    MachineStateStore machineState,
    ClusterAssetService clusterAssets,
    TimeProvider time,
    ILogger<ApprovalWorker> logger) : BackgroundService
{
    /// <summary>While a failure repeats, it is logged at its first attempt and then at most this often.</summary>
    private static readonly TimeSpan RepeatedFailureLogInterval = TimeSpan.FromMinutes(1);

    private readonly ApproverOptions _options = options.ForCluster(clusterDirectory.FullPath);
    // The current term's CSR work while this replica leads; null while it stands by.
    private CsrReconciler? _reconciler;

    /// <summary>True when this replica has no CSR queued or being decided (always, while it does not lead).</summary>
    internal bool DecisionsIdle => Volatile.Read(ref _reconciler)?.IsIdle ?? true;
    private string Identity => _options.Identity!;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var kubeconfig = await WaitForKubeconfigAsync(stoppingToken);
        if (kubeconfig is null) return;
        status.SetKubeconfig(kubeconfig);

        KubernetesClientConfiguration config;
        try { config = KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig); }
        catch (Exception e)
        {
            status.Set(ApproverStates.Disabled, $"kubeconfig {kubeconfig} is not usable: {e.Message}");
            logger.LogError(e, "CSR approver disabled: kubeconfig {Kubeconfig} is not usable", kubeconfig);
            return;
        }

        using var client = new Kubernetes(config);
        // The very store the Ignition endpoint mints into: a second instance on the same file would lose tokens.
        var tokens = clusterAssets.Tokens; // started before this worker: hosted services start in registration order
        var backoff = Backoff.For(_options);
        var failures = new FailureRun();
        while (!stoppingToken.IsCancellationRequested)
        {
            var term = new TermProgress();
            try
            {
                await RunTermAsync(client, config.Host, tokens, term, failures, stoppingToken);
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { return; }
            catch (Exception e)
            {
                // A term that got as far as the election worked until it failed: this is a new run of failures.
                if (term.Elected) { backoff.Reset(); failures = new FailureRun(); }
                var delay = backoff.Next(e);
                ReportFailure(config.Host, e, failures, delay, term.Elected);
                try { await Task.Delay(delay, time, stoppingToken); }
                catch (OperationCanceledException) { return; }
                continue;
            }
            // The lease was lost (or could not be renewed in time): the next term starts at once.
            backoff.Reset();
            failures = new FailureRun();
        }
    }

    /// <summary>Whether a term got as far as the election (someone, maybe this replica, was seen holding the lease).</summary>
    private sealed class TermProgress
    {
        public bool Elected;
    }

    /// <summary>Consecutive failed terms, since when, and when the last was logged.</summary>
    private sealed class FailureRun
    {
        public int Attempts;
        public DateTimeOffset Since;
        public DateTimeOffset LastLogged;
    }

    private void ReportFailure(string host, Exception e, FailureRun failures, TimeSpan delay, bool inTerm)
    {
        var now = time.GetUtcNow();
        if (++failures.Attempts == 1) failures.Since = now;
        var next = $"attempt {failures.Attempts}, next in {delay.TotalSeconds:0.#} s";
        if (IsApiFailure(e))
            status.Set(ApproverStates.WaitingForApi, $"{host}: {e.Message} ({next})");
        else
            status.Set(ApproverStates.Standby, $"the last term ended after an unexpected error: {e.Message} ({next})");

        if (failures.Attempts == 1 || now - failures.LastLogged >= RepeatedFailureLogInterval)
        {
            failures.LastLogged = now;
            if (IsApiFailure(e))
                logger.LogWarning(e, "CSR approver {Identity}: the API server at {Host} fails{During} ({Attempt}); retrying in {Delay}",
                    Identity, host, inTerm ? " during an election term" : "", failures.Attempts, delay);
            else
                logger.LogError(e, "CSR approver {Identity}: the election term ended after an unexpected error ({Attempt}); starting the next in {Delay}",
                    Identity, failures.Attempts, delay);
        }
    }

    /// <summary>The API server is gone or answers with an error, as opposed to a fault of this process.</summary>
    private static bool IsApiFailure(Exception e) =>
        Backoff.IsUnreachable(e) || e is HttpOperationException or KubernetesException;

    /// <summary>
    /// The kubeconfig to use, or null when the approver stays off. When none is named and the rendered one
    /// does not exist yet, it is looked for again every <see cref="ApproverOptions.KubeconfigPollInterval"/>:
    /// the cluster may be rendered while the server already runs.
    /// </summary>
    private async Task<string?> WaitForKubeconfigAsync(CancellationToken ct)
    {
        var logged = false;
        while (true)
        {
            var (kubeconfig, whyNot) = _options.ResolveKubeconfig(clusterDirectory.FullPath);
            if (kubeconfig is not null) return kubeconfig;
            var waiting = _options.Enabled && _options.Kubeconfig is null;
            status.Set(ApproverStates.Disabled, waiting ? $"{whyNot} (looking again every {_options.KubeconfigPollInterval.TotalSeconds:0.#} s)" : whyNot);
            if (!logged)
            {
                // Off by choice or not set up yet is normal; a kubeconfig that was named but is missing is not.
                logger.Log(waiting || !_options.Enabled ? LogLevel.Information : LogLevel.Warning, "CSR approver disabled: {Reason}", whyNot);
                logged = true;
            }
            if (!waiting) return null;
            try { await Task.Delay(_options.KubeconfigPollInterval, time, ct); }
            catch (OperationCanceledException) { return null; }
        }
    }

    /// <summary>
    /// One term: the API answers (one CSR listed, which also proves the approver may list them), then leader
    /// election until the lease is lost. Throws when the API fails or the leader's work fails.
    /// </summary>
    private async Task RunTermAsync(Kubernetes client, string host, BootstrapTokenStore tokens, TermProgress progress, FailureRun failures, CancellationToken ct)
    {
        await client.CertificatesV1.ListCertificateSigningRequestAsync(limit: 1, cancellationToken: ct);
        if (failures.Attempts > 0)
            logger.LogInformation("CSR approver reached the API server at {Host} again after {Attempts} failed attempts in {Duration}",
                host, failures.Attempts, time.GetUtcNow() - failures.Since);
        else
            logger.LogInformation("CSR approver reached the API server at {Host}", host);

        status.Set(ApproverStates.Standby, $"waiting for lease {_options.LeaseNamespace}/{_options.LeaseName}");
        var leaseLock = new LeaseLock(client, _options.LeaseNamespace, _options.LeaseName, Identity);
        using var elector = new LeaderElector(new LeaderElectionConfig(leaseLock)
        {
            LeaseDuration = _options.LeaseDuration,
            RenewDeadline = _options.RenewDeadline,
            RetryPeriod = _options.RetryPeriod,
        });
        // Ends the election (a fault in the leader's work ends the term) and, separately, the leader's work.
        using var electing = CancellationTokenSource.CreateLinkedTokenSource(ct);
        using var leadership = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task leading = Task.CompletedTask;
        elector.OnNewLeader += leader =>
        {
            progress.Elected = true;
            status.SetLeader(leader);
            if (leader != Identity)
            {
                status.Set(ApproverStates.Standby, $"{leader} holds lease {_options.LeaseNamespace}/{_options.LeaseName}");
                logger.LogInformation("CSR approver standing by: {Leader} is the leader", leader);
            }
        };
        elector.OnStartedLeading += () =>
        {
            progress.Elected = true;
            status.SetLeader(Identity);
            status.SetLeading();
            logger.LogInformation("CSR approver {Identity} is now the leader", Identity);
            leading = LeadAsync(client, tokens, electing, leadership.Token);
        };
        elector.OnStoppedLeading += () => leadership.Cancel();

        try { await elector.RunUntilLeadershipLostAsync(electing.Token); }
        catch (OperationCanceledException) when (electing.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            // The leader's work failed and ended the election: its error is rethrown below.
        }
        finally
        {
            await leadership.CancelAsync();
            // Shutting down or the lease lost, the leader's work ends quietly; a fault of its own is this term's error.
            await leading;
        }
        ct.ThrowIfCancellationRequested();
        logger.LogWarning("CSR approver {Identity} lost the lease {Namespace}/{Lease} (or could not renew it in time); starting a new term",
            Identity, _options.LeaseNamespace, _options.LeaseName);
    }

    /// <summary>
    /// The leader's work until <paramref name="ct"/> ends it. Should one part of it end by itself (a fault), the
    /// others are stopped, the election is ended through <paramref name="endTerm"/> and the fault is rethrown.
    /// </summary>
    private async Task LeadAsync(Kubernetes client, BootstrapTokenStore tokens, CancellationTokenSource endTerm, CancellationToken ct)
    {
        await Task.Yield(); // not inside the elector's callback
        using var work = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var policy = new CsrPolicy(_options.Policy);
        var recorder = new DecisionRecorder(client, _options, status, metrics, time, logger);
        var inventory = new ClusterInventory(catalog, machineState, tokens, time);
        var reconciler = new CsrReconciler(client, _options, policy, inventory, tokens, machineState, recorder, status, metrics, time, logger);
        var secrets = new TokenSecretSync(client, tokens, _options, time, logger);
        Task[] parts = [reconciler.RunAsync(work.Token), secrets.RunAsync(work.Token), recorder.RunAsync(reconciler.WhenIdleAsync, work.Token)];
        Volatile.Write(ref _reconciler, reconciler);
        try
        {
            await Task.WhenAny(parts);
            await work.CancelAsync();
            await Task.WhenAll(parts);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
        catch (Exception) when (!ct.IsCancellationRequested)
        {
            await endTerm.CancelAsync();
            throw;
        }
        finally { Volatile.Write(ref _reconciler, null); }
        if (!ct.IsCancellationRequested)
        {
            await endTerm.CancelAsync();
            throw new InvalidOperationException("the leader's work ended by itself");
        }
    }
}
