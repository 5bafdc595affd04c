using System.Text.Json;
using Microsoft.AspNetCore.Http;

namespace Provisioner.Registry;

/// <summary>
/// The error body of the OCI Distribution spec: <c>{"errors":[{"code":"…","message":"…"}]}</c>. Registry clients
/// (skopeo, containerd, podman) read the code; people read the message.
/// </summary>
internal static class RegistryErrors
{
    public const string BlobUnknown = "BLOB_UNKNOWN";
    public const string ManifestUnknown = "MANIFEST_UNKNOWN";
    public const string ManifestInvalid = "MANIFEST_INVALID";
    public const string NameUnknown = "NAME_UNKNOWN";
    public const string NameInvalid = "NAME_INVALID";
    public const string DigestInvalid = "DIGEST_INVALID";
    public const string Unsupported = "UNSUPPORTED";
    public const string PaginationNumberInvalid = "PAGINATION_NUMBER_INVALID";

    public static Task WriteAsync(HttpContext context, int status, string code, string message, CancellationToken cancellationToken)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = "application/json";
        var body = JsonSerializer.SerializeToUtf8Bytes(new { errors = new[] { new { code, message } } });
        response.ContentLength = body.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : response.Body.WriteAsync(body, cancellationToken).AsTask();
    }
}
