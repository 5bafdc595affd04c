using System.Security.Cryptography;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;

namespace Provisioner.Primitives;

/// <summary>Strong entity tags for prepared responses, and <c>If-None-Match</c> against them.</summary>
internal static class ETags
{
    public static string Strong(byte[] bytes) => $"\"{Convert.ToHexStringLower(SHA256.HashData(bytes))}\"";

    /// <summary>Whether <c>If-None-Match</c> names <paramref name="etag"/> or is <c>*</c> (weak comparison, RFC 9110 §13.1.2).</summary>
    public static bool NoneMatchFails(HttpRequest request, string etag)
    {
        var header = request.Headers.IfNoneMatch;
        if (header.Count == 0) return false;
        if (!EntityTagHeaderValue.TryParseList(header, out var tags)) return false;
        var current = new EntityTagHeaderValue(etag);
        return tags.Any(t => t.Equals(EntityTagHeaderValue.Any) || t.Compare(current, useStrongComparison: false));
    }
}
