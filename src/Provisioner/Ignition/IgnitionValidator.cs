namespace Provisioner.Ignition;

// TEMPORARY placeholder so the tree builds until the validator branch lands (replaced by the real one).
public enum IgnitionSeverity { Error, Warning }
public sealed record IgnitionProblem(IgnitionSeverity Severity, string Path, string Message);
public static class IgnitionValidator
{
    public static IReadOnlyList<IgnitionProblem> Validate(IgnitionConfig config) => [];
}

// TEMPORARY until the negotiation branch lands.
public sealed record NegotiationResult(bool Acceptable, string? Version, string ContentType, string? Reason);
public static class IgnitionNegotiation
{
    public static NegotiationResult Choose(string? accept, IgnitionConfig config) =>
        new(true, "3.4.0", "application/vnd.coreos.ignition+json;version=3.4.0", null);
}
public static class IgnitionConfigVersionExtensions
{
    public static IgnitionConfig WithVersion(this IgnitionConfig c, string v) => c with { Ignition = c.Ignition with { Version = v } };
}
