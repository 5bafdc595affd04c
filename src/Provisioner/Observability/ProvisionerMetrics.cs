using Prometheus;

namespace Provisioner.Observability;

/// <summary>
/// The server's Prometheus metrics, in a registry of its own (not the process-wide default) so that
/// several servers in one process — as in the tests — do not share counters.
/// </summary>
public sealed class ProvisionerMetrics
{
    public ProvisionerMetrics()
    {
        Registry = Metrics.NewCustomRegistry();
        var factory = Metrics.WithCustomRegistry(Registry);
        Requests = factory.CreateCounter("provisioner_http_requests_total", "HTTP requests by endpoint and status code.",
            new CounterConfiguration { LabelNames = ["endpoint", "status"] });
        ResponseBytes = factory.CreateCounter("provisioner_http_response_bytes_total", "Response body bytes by endpoint.",
            new CounterConfiguration { LabelNames = ["endpoint"] });
        Machines = factory.CreateGauge("provisioner_machines", "Machines by state: the last boot stage seen, 'pending' (known, never seen) or 'discovered' (unknown).",
            new GaugeConfiguration { LabelNames = ["state"] });
        ProfileReloads = factory.CreateCounter("provisioner_profile_reloads_total", "Profile reloads by result.",
            new CounterConfiguration { LabelNames = ["result"] });
    }

    public CollectorRegistry Registry { get; }
    public Counter Requests { get; }
    public Counter ResponseBytes { get; }
    public Gauge Machines { get; }
    public Counter ProfileReloads { get; }

    public async Task WriteAsync(Stream destination, CancellationToken cancellationToken) =>
        await Registry.CollectAndExportAsTextAsync(destination, cancellationToken);
}
