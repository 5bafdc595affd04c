using System.Diagnostics.CodeAnalysis;
using Microsoft.Net.Http.Headers;

namespace Provisioner.Ignition;

/// <summary>The outcome of <see cref="IgnitionNegotiation.Choose"/>: a version to serve, or why none fits (HTTP 406).</summary>
internal sealed record IgnitionNegotiationResult
{
    public Version? Version { get; private init; }
    public string? ContentType { get; private init; }
    public string? NotAcceptableReason { get; private init; }

    [MemberNotNullWhen(true, nameof(Version), nameof(ContentType))]
    [MemberNotNullWhen(false, nameof(NotAcceptableReason))]
    public bool IsAcceptable => Version is not null;

    internal static IgnitionNegotiationResult Serve(Version version) =>
        new() { Version = version, ContentType = IgnitionSpec.ContentType(version) };

    internal static IgnitionNegotiationResult NotAcceptable(string reason) => new() { NotAcceptableReason = reason };
}

/// <summary>
/// Picks the Ignition spec version to serve from the request's <c>Accept</c> header. Ignition sends
/// <c>application/vnd.coreos.ignition+json;version=3.X.0, */*;q=0.1</c> naming the newest spec it reads.
/// </summary>
internal static class IgnitionNegotiation
{
    private enum Specificity { Any, AnyApplication, Generic, Versioned }

    public static IgnitionNegotiationResult Choose(string? accept, IgnitionConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var features = IgnitionSpec.RequiredFeatures(config);
        var minimum = IgnitionSpec.MinimumVersion(config);
        var expressible = IgnitionSpec.Supported.Where(v => v >= minimum).ToList();

        if (string.IsNullOrWhiteSpace(accept))
            return IgnitionNegotiationResult.Serve(Preferred(expressible));
        if (!MediaTypeHeaderValue.TryParseList([accept], out var ranges) || ranges.Count == 0)
            return IgnitionNegotiationResult.NotAcceptable($"the Accept header '{accept}' could not be parsed");

        // The q of a version is that of the most specific range matching it (RFC 9110 §12.5.1).
        var scored = new List<(Version Version, double Q, Specificity Specificity)>();
        foreach (var version in expressible)
        {
            var best = ranges
                .Select(r => (Range: r, Specificity: Match(r, version)))
                .Where(m => m.Specificity is not null)
                .OrderByDescending(m => m.Specificity).ThenByDescending(m => m.Range.Quality ?? 1)
                .FirstOrDefault();
            if (best.Range is not null && (best.Range.Quality ?? 1) > 0)
                scored.Add((version, best.Range.Quality ?? 1, best.Specificity!.Value));
        }
        if (scored.Count > 0)
        {
            var topQ = scored.Max(s => s.Q);
            var top = scored.Where(s => s.Q == topQ).ToList();
            var topSpecificity = top.Max(s => s.Specificity);
            return IgnitionNegotiationResult.Serve(Preferred(top.Where(s => s.Specificity == topSpecificity).Select(s => s.Version).ToList()));
        }
        return IgnitionNegotiationResult.NotAcceptable(Explain(accept, ranges, features));
    }

    // Among equally acceptable versions: the default, else the newest.
    private static Version Preferred(IReadOnlyList<Version> versions) =>
        versions.Contains(IgnitionSpec.Default) ? IgnitionSpec.Default : versions.Max()!;

    private static Specificity? Match(MediaTypeHeaderValue range, Version version)
    {
        var type = range.MediaType.Value ?? "";
        if (type.Equals("*/*", StringComparison.OrdinalIgnoreCase)) return Specificity.Any;
        if (type.Equals("application/*", StringComparison.OrdinalIgnoreCase)) return Specificity.AnyApplication;
        if (type.Equals("application/json", StringComparison.OrdinalIgnoreCase)) return Specificity.Generic;
        if (!type.Equals(IgnitionSpec.MediaType, StringComparison.OrdinalIgnoreCase)) return null;
        var requested = RequestedVersion(range);
        if (requested is null) return Specificity.Generic;
        return IgnitionSpec.TryParseSupported(requested, out var v) && v == version ? Specificity.Versioned : null;
    }

    private static string? RequestedVersion(MediaTypeHeaderValue range)
    {
        var parameter = range.Parameters.FirstOrDefault(p => p.Name.Equals("version", StringComparison.OrdinalIgnoreCase));
        return parameter is null ? null : HeaderUtilities.RemoveQuotes(parameter.Value).Value ?? "";
    }

    private static string Explain(string accept, IList<MediaTypeHeaderValue> ranges, IReadOnlyList<IgnitionFeature> features)
    {
        var reasons = new List<string>();
        foreach (var range in ranges.Where(r => (r.Quality ?? 1) > 0 && (r.MediaType.Value ?? "").Equals(IgnitionSpec.MediaType, StringComparison.OrdinalIgnoreCase)))
        {
            if (RequestedVersion(range) is not { } requested) continue;
            if (!IgnitionSpec.TryParseSupported(requested, out var version))
                reasons.Add($"Ignition spec {requested} is not supported (this server serves {IgnitionSpec.SupportedRange})");
            else if (features.Where(f => f.Since > version).MaxBy(f => f.Since) is { } blocker)
                reasons.Add($"this config cannot be expressed in Ignition spec {requested}: {IgnitionSpec.Describe(blocker)}");
        }
        if (reasons.Count == 0)
            reasons.Add($"Accept '{accept}' allows no Ignition config; send {IgnitionSpec.MediaType} (spec {IgnitionSpec.SupportedRange})");
        return string.Join("; ", reasons.Distinct());
    }
}
