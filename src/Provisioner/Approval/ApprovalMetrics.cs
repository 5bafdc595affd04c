using Prometheus;
using Provisioner.Observability;

namespace Provisioner.Approval;

/// <summary>The approver's metrics, in the server's own registry (served at /metrics).</summary>
internal sealed class ApprovalMetrics
{
    public ApprovalMetrics(ProvisionerMetrics metrics)
    {
        var factory = Metrics.WithCustomRegistry(metrics.Registry);
        Decisions = factory.CreateCounter("provisioner_csr_decisions_total",
            "CSR decisions by signer, decision (approved, pending, denied) and reason code.",
            new CounterConfiguration { LabelNames = ["signer", "decision", "reason"] });
        Pending = factory.CreateGauge("provisioner_csr_pending", "CertificateSigningRequests in the cluster that are neither approved nor denied.");
    }

    public Counter Decisions { get; }
    public Gauge Pending { get; }
}
