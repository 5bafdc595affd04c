using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Provisioner.Catalog;
using Provisioner.Hosting;
using Provisioner.Inventory;
using Provisioner.Tokens;

namespace Provisioner.Approval;

/// <summary>
/// The CSR approver inside <c>provisioner serve</c>: connects with its kubeconfig, waits (capped exponential
/// backoff) until the API answers, then takes part in leader election on a Lease. The leader decides CSRs
/// (<see cref="CsrReconciler"/>) and keeps bootstrap token Secrets in step (<see cref="TokenSecretSync"/>);
/// other replicas stand by. Failures never stop the server: the approver reports them and retries.
/// </summary>
public sealed class ApprovalWorker(
    ServerOptions serverOptions,
    ApproverStatus status,
    ApprovalMetrics metrics,
    CatalogStore catalog,
    MachineStateStore machineState,
    Cluster.ClusterAssetService clusterAssets,
    TimeProvider time,
    ILogger<ApprovalWorker> logger) : BackgroundService
{
    private readonly ApproverOptions _options = serverOptions.Approver;

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
            logger.LogError("CSR approver disabled: kubeconfig {Kubeconfig} is not usable: {Error}", kubeconfig, e.Message);
            return;
        }

        try
        {
            using var client = new Kubernetes(config);
            // The very store the Ignition endpoint mints into: a second instance on the same file would lose tokens.
            var tokens = clusterAssets.Tokens; // started before this worker: hosted services start in registration order
            await WaitForApiAsync(client, config.Host, stoppingToken);
            while (!stoppingToken.IsCancellationRequested)
                await RunElectionTermAsync(client, tokens, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { }
        catch (Exception e)
        {
            status.Set(ApproverStates.Disabled, "stopped after an unexpected error: " + e.Message);
            logger.LogError(e, "CSR approver stopped after an unexpected error");
        }
    }

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
            var (kubeconfig, whyNot) = _options.ResolveKubeconfig(serverOptions.ResolvedClusterDirectory);
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

    private async Task WaitForApiAsync(Kubernetes client, string host, CancellationToken ct)
    {
        var backoff = new Backoff(_options.BackoffInitial, _options.BackoffMax);
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await client.CertificatesV1.ListCertificateSigningRequestAsync(limit: 1, cancellationToken: ct);
                logger.LogInformation("CSR approver reached the API server at {Host}", host);
                return;
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                var delay = backoff.Next();
                status.Set(ApproverStates.WaitingForApi, $"{host}: {e.Message} (attempt {attempt}, next in {delay.TotalSeconds:0.#} s)");
                if (attempt == 1 || delay == _options.BackoffMax)
                    logger.LogInformation("CSR approver waiting for the API server at {Host}: {Error}", host, e.Message);
                await Task.Delay(delay, time, ct);
            }
        }
    }

    private async Task RunElectionTermAsync(Kubernetes client, BootstrapTokenStore tokens, CancellationToken ct)
    {
        status.Set(ApproverStates.Standby, $"waiting for lease {_options.LeaseNamespace}/{_options.LeaseName}");
        var leaseLock = new LeaseLock(client, _options.LeaseNamespace, _options.LeaseName, _options.Identity);
        using var elector = new LeaderElector(new LeaderElectionConfig(leaseLock)
        {
            LeaseDuration = _options.LeaseDuration,
            RenewDeadline = _options.RenewDeadline,
            RetryPeriod = _options.RetryPeriod,
        });
        using var term = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task leading = Task.CompletedTask;
        elector.OnNewLeader += leader =>
        {
            status.SetLeader(leader);
            if (leader != _options.Identity)
            {
                status.Set(ApproverStates.Standby, $"{leader} holds lease {_options.LeaseNamespace}/{_options.LeaseName}");
                logger.LogInformation("CSR approver standing by: {Leader} is the leader", leader);
            }
        };
        elector.OnStartedLeading += () =>
        {
            status.SetLeader(_options.Identity);
            status.SetLeading();
            logger.LogInformation("CSR approver {Identity} is now the leader", _options.Identity);
            leading = LeadAsync(client, tokens, term.Token);
        };
        elector.OnStoppedLeading += () => term.Cancel();

        try { await elector.RunUntilLeadershipLostAsync(ct); }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        await term.CancelAsync();
        await leading;
        if (!ct.IsCancellationRequested)
            logger.LogWarning("CSR approver {Identity} lost the lease; standing by", _options.Identity);
    }

    private async Task LeadAsync(Kubernetes client, BootstrapTokenStore tokens, CancellationToken ct)
    {
        var policy = new CsrPolicy(_options.Policy);
        var recorder = new DecisionRecorder(client, _options, status, metrics, time, logger);
        var inventory = new ClusterInventory(catalog, machineState, tokens, time);
        var reconciler = new CsrReconciler(client, _options, policy, inventory, tokens, machineState, recorder, status, metrics, time, logger);
        var secrets = new TokenSecretSync(client, tokens, _options, time, logger);
        try { await Task.WhenAll(reconciler.RunAsync(ct), secrets.RunAsync(ct), recorder.RunAsync(reconciler.WhenIdleAsync, ct)); }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
        catch (Exception e)
        {
            logger.LogError(e, "CSR approver leader work failed");
        }
    }
}
