using Microsoft.Net.Http.Headers;

namespace Provisioner.Assets;

/// <summary>An inclusive byte range of a file, already clamped to its length.</summary>
internal readonly record struct ByteRange(long From, long To)
{
    public long Length => To - From + 1;
}

internal enum RangeOutcome
{
    /// <summary>No usable Range header: send the whole file with 200.</summary>
    WholeFile,
    /// <summary>Send these ranges with 206.</summary>
    Partial,
    /// <summary>Every range lies past the end: 416.</summary>
    Unsatisfiable,
}

internal sealed record RangePlan(RangeOutcome Outcome, IReadOnlyList<ByteRange> Ranges)
{
    public static readonly RangePlan WholeFile = new(RangeOutcome.WholeFile, []);
    public static readonly RangePlan Unsatisfiable = new(RangeOutcome.Unsatisfiable, []);
}

/// <summary>Turns a parsed Range header into the byte ranges to send (RFC 9110 §14).</summary>
internal static class ByteRanges
{
    /// <summary>
    /// More distinct ranges than this (after coalescing) and the Range header is ignored: many tiny
    /// parts cost far more than the bytes they carry (RFC 9110 §14.2 allows ignoring such requests).
    /// </summary>
    public const int MaxRanges = 16;

    public static RangePlan Plan(RangeHeaderValue? header, long length)
    {
        if (header is null || !string.Equals(header.Unit.Value, "bytes", StringComparison.OrdinalIgnoreCase) || header.Ranges.Count == 0)
            return RangePlan.WholeFile;

        var satisfiable = new List<ByteRange>(header.Ranges.Count);
        foreach (var item in header.Ranges)
        {
            if (item.From is long from)
            {
                if (item.To is long to && to < from) return RangePlan.WholeFile; // malformed: ignore the header
                if (from >= length) continue;
                satisfiable.Add(new ByteRange(from, item.To is long end ? Math.Min(end, length - 1) : length - 1));
            }
            else if (item.To is long suffix)
            {
                if (suffix == 0 || length == 0) continue;
                satisfiable.Add(new ByteRange(Math.Max(0, length - suffix), length - 1));
            }
            else
            {
                return RangePlan.WholeFile;
            }
        }

        if (satisfiable.Count == 0) return RangePlan.Unsatisfiable;
        var coalesced = Coalesce(satisfiable);
        return coalesced.Count > MaxRanges ? RangePlan.WholeFile : new RangePlan(RangeOutcome.Partial, coalesced);
    }

    /// <summary>Sorts and merges overlapping or touching ranges, so no byte is sent twice.</summary>
    internal static IReadOnlyList<ByteRange> Coalesce(IEnumerable<ByteRange> ranges)
    {
        var merged = new List<ByteRange>();
        foreach (var range in ranges.OrderBy(r => r.From))
        {
            if (merged.Count > 0 && range.From <= merged[^1].To + 1)
                merged[^1] = merged[^1] with { To = Math.Max(merged[^1].To, range.To) };
            else
                merged.Add(range);
        }
        return merged;
    }
}
