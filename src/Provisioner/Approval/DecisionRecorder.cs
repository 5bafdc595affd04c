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

    // Events are written beside the decisions: an approval never waits for its Event.
    private readonly System.Threading.Channels.Channel<Corev1Event> _events =
        System.Threading.Channels.Channel.CreateUnbounded<Corev1Event>(new System.Threading.Channels.UnboundedChannelOptions { SingleReader = false });

    /// <summary>
    /// Writes the queued Events until <paramref name="ct"/> is cancelled, each after
    /// <paramref name="yieldToDecisions"/>: during a join storm the API server's time goes to approvals first.
    /// </summary>
    public async Task RunAsync(Func<CancellationToken, Task> yieldToDecisions, CancellationToken ct)
    {
        try
        {
            await Parallel.ForEachAsync(_events.Reader.ReadAllAsync(ct), new ParallelOptions { MaxDegreeOfParallelism = 4, CancellationToken = ct },
                async (ev, token) =>
                {
                    await yieldToDecisions(token);
                    try { await client.CoreV1.CreateNamespacedEventAsync(ev, options.EventNamespace, cancellationToken: token); }
                    catch (Exception e) when (!token.IsCancellationRequested)
                    {
                        // The decision stands whether or not the Event could be written; the log line has it.
                        logger.LogWarning(e, "Could not record an Event for CSR {Csr}", ev.InvolvedObject.Name);
                    }
                });
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    public void Record(V1CertificateSigningRequest csr, CsrDecision decision, bool onlyIfChanged)
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

        _events.Writer.TryWrite(new Corev1Event
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
        });
    }
}
