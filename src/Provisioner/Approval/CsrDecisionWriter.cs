using k8s;
using k8s.Models;

namespace Provisioner.Approval;

/// <summary>
/// Writes a decision onto a CSR: an Approved or Denied condition, through the approval subresource. One write per
/// call; what to do on a 409 or 404 is the reconciler's business (it owns the cache).
/// </summary>
internal sealed class CsrDecisionWriter(IKubernetes client, TimeProvider time)
{
    /// <summary>The CSR as the API server stored it with the decision.</summary>
    public Task<V1CertificateSigningRequest> WriteAsync(V1CertificateSigningRequest csr, CsrDecision decision, CancellationToken ct) =>
        client.CertificatesV1.ReplaceCertificateSigningRequestApprovalAsync(WithCondition(csr, decision), csr.Metadata.Name, cancellationToken: ct);

    private V1CertificateSigningRequest WithCondition(V1CertificateSigningRequest csr, CsrDecision decision)
    {
        // A new object around the cached metadata and spec, which are only read: the cached CSR itself is
        // shared with concurrent readers and stays as the API server sent it.
        var now = time.GetUtcNow().UtcDateTime;
        return new V1CertificateSigningRequest
        {
            ApiVersion = csr.ApiVersion,
            Kind = csr.Kind,
            Metadata = csr.Metadata,
            Spec = csr.Spec,
            Status = new V1CertificateSigningRequestStatus
            {
                Certificate = csr.Status?.Certificate,
                Conditions = [.. csr.Status?.Conditions ?? [], new V1CertificateSigningRequestCondition
                {
                    Type = decision.Verdict == CsrVerdict.Approve ? "Approved" : "Denied",
                    Status = "True",
                    Reason = decision.Verdict == CsrVerdict.Approve ? DecisionRecorder.ApprovedConditionReason : DecisionRecorder.DeniedConditionReason,
                    Message = $"{decision.Reason}: {decision.Message}",
                    LastUpdateTime = now,
                    LastTransitionTime = now,
                }],
            },
        };
    }
}
