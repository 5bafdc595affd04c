namespace Provisioner.Approval;

internal enum CsrVerdict
{
    Approve,
    /// <summary>Not ours to approve, or not yet: another approver or a later pass may decide.</summary>
    LeavePending,
    /// <summary>Only for clear forgeries, and only when <see cref="CsrPolicyOptions.DenyForged"/> is set.</summary>
    Deny,
}

/// <summary>What to do with one CSR and why. <see cref="Reason"/> is one of <see cref="CsrReasons"/>.</summary>
internal sealed record CsrDecision(CsrVerdict Verdict, string Reason, string Message, string? NodeName, string? MachineName);

/// <summary>Stable, machine-readable reason codes (used in logs, metrics labels and approval conditions).</summary>
internal static class CsrReasons
{
    public const string ApprovedFirstJoin = "approved-first-join";
    public const string ApprovedRenewal = "approved-renewal";
    public const string ApprovedServing = "approved-serving";

    public const string UnknownSigner = "unknown-signer";
    public const string Unparseable = "unparseable";
    public const string BadSignature = "bad-signature";
    public const string CaExtension = "ca-extension";
    public const string WeakKey = "weak-key";
    public const string SubjectMismatch = "subject-mismatch";
    public const string UnexpectedSan = "unexpected-san";
    public const string NoSan = "no-san";
    public const string DnsNotMachine = "dns-not-machine";
    public const string IpNotMachine = "ip-not-machine";
    public const string BadUsages = "bad-usages";
    public const string RequesterMismatch = "requester-mismatch";
    public const string UnknownMachine = "unknown-machine";
    public const string TokenBoundToOtherMachine = "token-bound-to-other-machine";
    public const string NodeExists = "node-exists";
    public const string IgnitionWindowExpired = "ignition-window-expired";
    /// <summary>The machine sent a newer first-join CSR (its kubelet restarted): only the newest is approved.</summary>
    public const string Superseded = "superseded";
    public const string PendingCapMachine = "pending-cap-machine";
    public const string PendingCapTotal = "pending-cap-total";

    /// <summary>Reasons that prove intent rather than misconfiguration; only these may become a Deny.</summary>
    public static bool IsForgery(string reason) =>
        reason is TokenBoundToOtherMachine or BadSignature or CaExtension;
}
