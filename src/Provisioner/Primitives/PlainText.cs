using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.WebUtilities;
using Provisioner.Observability;

namespace Provisioner.Primitives;

/// <summary>The one shape of every 4xx answer: <c>"&lt;status&gt; &lt;phrase&gt;: &lt;reason&gt;"</c> as plain text.</summary>
internal static class PlainText
{
    /// <remarks>Reasons often quote what the client sent: control characters in it are escaped.</remarks>
    public static IResult Problem(int status, string reason) =>
        Results.Text($"{status} {ReasonPhrases.GetReasonPhrase(status)}: {ControlCharacters.Escape(reason)}\n", "text/plain; charset=utf-8", statusCode: status);
}
