using System.Collections.Immutable;

namespace Provisioner.Approval;

internal sealed record CsrPolicyOptions
{
    public static CsrPolicyOptions Default { get; } = new();

    public CsrKeyPolicy Keys { get; init; } = CsrKeyPolicy.Default;

    /// <summary>How long after its Ignition fetch a machine may still ask to join with its bootstrap token.</summary>
    public TimeSpan IgnitionWindow { get; init; } = TimeSpan.FromHours(24);

    /// <summary>
    /// The Ignition fetch is stamped by our clock, the CSR's creation by the API server's; a fetch this
    /// far after the creation time still counts as "before".
    /// </summary>
    public TimeSpan ClockSkew { get; init; } = TimeSpan.FromMinutes(5);

    public int MaxPendingPerMachine { get; init; } = 3;

    /// <summary>Cluster-wide pending cap is the machine count plus this headroom.</summary>
    public int PendingTotalHeadroom { get; init; } = 20;

    /// <summary>Deny (rather than leave pending) CSRs that are clear forgeries; see <see cref="CsrReasons.IsForgery"/>.</summary>
    public bool DenyForged { get; init; }
}

/// <summary>Which subject keys are acceptable. Curves are NIST names ("P-256", "P-384", "P-521").</summary>
internal sealed record CsrKeyPolicy(ImmutableArray<string> EcdsaCurves, int MinimumRsaBits)
{
    public static CsrKeyPolicy Default { get; } = new(["P-256", "P-384"], 2048);
}
