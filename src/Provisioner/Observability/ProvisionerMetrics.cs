using Prometheus;

namespace Provisioner.Observability;

/// <summary>
/// The server's Prometheus metrics, in a registry of its own (not the process-wide default) so that
/// several servers in one process — as in the tests — do not share counters.
/// </summary>
internal sealed class ProvisionerMetrics
{
    public ProvisionerMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        // No exemplars: nothing here traces requests, and recording one per increment is work on every request.
        factory.ExemplarBehavior = ExemplarBehavior.NoExemplars();
        Requests = factory.CreateCounter("provisioner_http_requests_total", "HTTP requests by endpoint and status code.",
            new CounterConfiguration { LabelNames = ["endpoint", "status"] });
        ResponseBytes = factory.CreateCounter("provisioner_http_response_bytes_total", "Response body bytes by endpoint.",
            new CounterConfiguration { LabelNames = ["endpoint"] });
        Machines = factory.CreateGauge("provisioner_machines", "Machines by state: the last boot stage seen, 'pending' (known, never seen) or 'discovered' (unknown).",
            new GaugeConfiguration { LabelNames = ["state"] });
        ProfileReloads = factory.CreateCounter("provisioner_profile_reloads_total", "Profile reloads by result.",
            new CounterConfiguration { LabelNames = ["result"] });
        MachinePhases = factory.CreateGauge("provisioner_machine_phases", "Known machines by persisted provisioning phase: ready, provisioning (config delivered), provisioned (node registered).",
            new GaugeConfiguration { LabelNames = ["phase"] });
        DiscoveredEvicted = factory.CreateCounter("provisioner_discovered_evicted_total",
            "Discovered (unknown) machines dropped from the bounded table to make room for newer ones.");
        TokensReissuedAfterJoin = factory.CreateCounter("provisioner_bootstrap_tokens_reissued_after_join_total",
            "Bootstrap tokens minted for a machine whose node had already joined (its config fetched again after its token was revoked).",
            new CounterConfiguration { LabelNames = ["machine"] });
        IgnitionRenders = factory.CreateCounter("provisioner_ignition_renders_total",
            "Ignition configs rendered, by trigger: 'change' (prepared ahead of requests after the catalog, tokens or cluster directory changed) or 'request' (a request found no prepared config).",
            new CounterConfiguration { LabelNames = ["trigger"] });
        SecretRedeliveryRefused = factory.CreateCounter("provisioner_secret_redelivery_refused_total",
            "Requests for a machine's real config refused because it was already released in this provisioning round (410): a stolen config or a machine that lost it.",
            new CounterConfiguration { LabelNames = ["machine"] });
        IpxeRenders = factory.CreateCounter("provisioner_ipxe_renders_total",
            "Machine iPXE scripts built; each distinct machine query and base URL is built once per catalog snapshot.");
    }

    public CollectorRegistry Registry { get; }
    public Counter Requests { get; }
    public Counter ResponseBytes { get; }
    public Gauge Machines { get; }
    public Counter ProfileReloads { get; }
    public Gauge MachinePhases { get; }
    public Counter DiscoveredEvicted { get; }
    public Counter TokensReissuedAfterJoin { get; }
    public Counter IgnitionRenders { get; }
    public Counter IpxeRenders { get; }
    public Counter SecretRedeliveryRefused { get; }

    public async Task WriteAsync(Stream destination, CancellationToken cancellationToken) =>
        await Registry.CollectAndExportAsTextAsync(destination, cancellationToken);
}
