using System.Collections.Concurrent;
using k8s;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Provisioner.Approval;

/// <summary>
/// Makes every decision visible, never silent: a structured log line, a Kubernetes Event on the CSR, the
/// <c>provisioner_csr_decisions_total</c> counter and the list at <c>GET /api/v1/approver</c>. A CSR left
/// pending for the same reason on every pass is reported once, not on every resync.
/// </summary>
internal sealed class DecisionRecorder(
    IKubernetes client,
    ApproverOptions options,
    ApproverStatus status,
    ApprovalMetrics metrics,
    TimeProvider time,
    ILogger logger)
{
    public const string ApprovedConditionReason = "ProvisionerApproved";
    public const string DeniedConditionReason = "ProvisionerDenied";
    public const string EventComponent = "provisioner-approver";

    private readonly ConcurrentDictionary<string, string> _lastReason = new(StringComparer.Ordinal);

    public static string DecisionLabel(CsrVerdict verdict) => verdict switch
    {
        CsrVerdict.Approve => "approved",
        CsrVerdict.Deny => "denied",
        _ => "pending",
    };

    /// <summary>"approved-first-join" → "ApprovedFirstJoin", the CamelCase Kubernetes uses for Event reasons.</summary>
    public static string EventReason(string reason) =>
        string.Concat(reason.Split('-', StringSplitOptions.RemoveEmptyEntries).Select(w => char.ToUpperInvariant(w[0]) + w[1..]));

    public async Task RecordAsync(V1CertificateSigningRequest csr, CsrDecision decision, bool onlyIfChanged, CancellationToken ct)
    {
        var key = csr.Metadata.Uid ?? csr.Metadata.Name;
        var label = DecisionLabel(decision.Verdict);
        var code = $"{label}/{decision.Reason}";
        if (onlyIfChanged && _lastReason.TryGetValue(key, out var last) && last == code) return;
        _lastReason[key] = code;

        var signer = csr.Spec.SignerName ?? "";
        var requester = csr.Spec.Username ?? "";
        var level = decision.Verdict == CsrVerdict.Approve ? LogLevel.Information : LogLevel.Warning;
        logger.Log(level, "CSR {Csr} {Decision} ({Reason}): {Message} [signer {Signer}, requester {Requester}, node {Node}, machine {Machine}]",
            csr.Metadata.Name, label, decision.Reason, decision.Message, signer, requester, decision.NodeName, decision.MachineName);
        metrics.Decisions.WithLabels(signer, label, decision.Reason).Inc();
        var now = time.GetUtcNow();
        status.Record(new DecisionRecord(now, csr.Metadata.Name, signer, requester, label, decision.Reason, decision.Message,
            decision.NodeName, decision.MachineName));

        try
        {
            await client.CoreV1.CreateNamespacedEventAsync(new Corev1Event
            {
                Metadata = new V1ObjectMeta { GenerateName = csr.Metadata.Name + "." },
                InvolvedObject = new V1ObjectReference
                {
                    Kind = "CertificateSigningRequest",
                    ApiVersion = "certificates.k8s.io/v1",
                    Name = csr.Metadata.Name,
                    Uid = csr.Metadata.Uid,
                    ResourceVersion = csr.Metadata.ResourceVersion,
                },
                Reason = EventReason(decision.Reason),
                Message = decision.Message,
                Type = decision.Verdict == CsrVerdict.Approve ? "Normal" : "Warning",
                Action = decision.Verdict switch { CsrVerdict.Approve => "Approve", CsrVerdict.Deny => "Deny", _ => "LeavePending" },
                Source = new V1EventSource { Component = EventComponent },
                ReportingComponent = "provisioner.dev/approver",
                ReportingInstance = options.Identity,
                FirstTimestamp = now.UtcDateTime,
                LastTimestamp = now.UtcDateTime,
                Count = 1,
            }, options.EventNamespace, cancellationToken: ct);
        }
        catch (Exception e) when (!ct.IsCancellationRequested)
        {
            // The decision stands whether or not the Event could be written; the log line above has it.
            logger.LogWarning("Could not record an Event for CSR {Csr}: {Error}", csr.Metadata.Name, e.Message);
        }
    }
}
