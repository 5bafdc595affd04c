using Microsoft.Net.Http.Headers;

namespace Provisioner.Assets;

internal enum PreconditionResult
{
    Proceed,
    NotModified,
    Failed,
}

/// <summary>Conditional request evaluation in the order of RFC 9110 §13.2.2.</summary>
internal static class Preconditions
{
    public static PreconditionResult Evaluate(HttpRequest request, EntityTagHeaderValue etag, DateTimeOffset lastModified)
    {
        var typed = request.GetTypedHeaders();

        if (request.Headers.ContainsKey(HeaderNames.IfMatch))
        {
            // Strong comparison; an unparseable If-Match matches nothing.
            if (!typed.IfMatch.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Compare(etag, useStrongComparison: true)))
                return PreconditionResult.Failed;
        }
        else if (typed.IfUnmodifiedSince is { } unmodifiedSince && lastModified > unmodifiedSince)
        {
            return PreconditionResult.Failed;
        }

        if (request.Headers.ContainsKey(HeaderNames.IfNoneMatch))
        {
            if (typed.IfNoneMatch.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Compare(etag, useStrongComparison: false)))
                return PreconditionResult.NotModified;
        }
        else if (typed.IfModifiedSince is { } modifiedSince && lastModified <= modifiedSince)
        {
            return PreconditionResult.NotModified;
        }

        return PreconditionResult.Proceed;
    }

    /// <summary>False when If-Range names another version: the client then wants the whole new file.</summary>
    public static bool RangeStillApplies(HttpRequest request, EntityTagHeaderValue etag, DateTimeOffset lastModified)
    {
        if (!request.Headers.ContainsKey(HeaderNames.IfRange)) return true;
        var condition = request.GetTypedHeaders().IfRange;
        if (condition?.EntityTag is { } tag) return !tag.IsWeak && tag.Compare(etag, useStrongComparison: true);
        if (condition?.LastModified is { } date) return date == lastModified;
        return false;
    }
}
