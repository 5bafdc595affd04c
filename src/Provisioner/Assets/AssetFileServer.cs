using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.StaticFiles;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Net.Http.Headers;

namespace Provisioner.Assets;

/// <summary>
/// Serves kernels, initrds and multi-GiB rootfs images under <c>/assets/</c>.
/// Why not StaticFileMiddleware: it ignores multi-range requests (we answer them with
/// <c>multipart/byteranges</c>, capped and coalesced against amplification), and we want explicit,
/// tested traversal rules: <c>..</c>/encoded separators/backslashes/NUL/absolute paths are a 400;
/// anything whose real path — or the real path of any directory on the way — leaves the real root,
/// directories, dotfiles and missing files are a 404. Bodies go out through
/// <see cref="SendFileResponseExtensions.SendFileAsync(HttpResponse, string, long, long?, CancellationToken)"/>
/// with 64-bit offsets and are never buffered.
/// </summary>
internal sealed class AssetFileServer(AssetsOptions options, ILogger<AssetFileServer>? logger = null)
{
    private const string PlainText = "text/plain; charset=utf-8";
    private static readonly FileExtensionContentTypeProvider ContentTypes = new();
    private readonly ILogger _logger = logger ?? NullLogger<AssetFileServer>.Instance;

    public AssetsOptions Options { get; } = options;

    /// <summary>Serves <paramref name="relativePath"/> (untrusted, as taken from the URL) below <see cref="AssetsOptions.Root"/>.</summary>
    public Task ServeAsync(HttpContext context, string? relativePath, CancellationToken cancellationToken)
    {
        switch (AssetPath.Resolve(Options.Root, relativePath))
        {
            case AssetLookup.Found found:
                return ServeFileAsync(context, found.File, cacheControl: null, cancellationToken);
            case AssetLookup.Rejected rejected:
                _logger.LogWarning("Rejected asset path {Path} from {Remote}: {Reason}", relativePath, context.Connection.RemoteIpAddress, rejected.Reason);
                return WriteErrorAsync(context, StatusCodes.Status400BadRequest, rejected.Reason, cancellationToken);
            case AssetLookup.NotFound notFound:
                _logger.LogInformation("Asset {Path} not served to {Remote}: {Reason}", relativePath, context.Connection.RemoteIpAddress, notFound.Reason);
                return WriteErrorAsync(context, StatusCodes.Status404NotFound, notFound.Reason, cancellationToken);
            default:
                throw new InvalidOperationException("unreachable");
        }
    }

    /// <summary>
    /// Serves a file the caller has already chosen (e.g. a content-addressed blob); no path checks
    /// happen here. <paramref name="cacheControl"/> is sent verbatim when given (e.g. "public, max-age=31536000, immutable").
    /// </summary>
    public async Task ServeFileAsync(HttpContext context, FileInfo file, string? cacheControl, CancellationToken cancellationToken)
    {
        var request = context.Request;
        var response = context.Response;
        var isHead = HttpMethods.IsHead(request.Method);
        if (!isHead && !HttpMethods.IsGet(request.Method))
        {
            response.Headers.Allow = "GET, HEAD";
            await WriteErrorAsync(context, StatusCodes.Status405MethodNotAllowed, "only GET and HEAD are supported", cancellationToken);
            return;
        }

        file.Refresh();
        if (!file.Exists)
        {
            await WriteErrorAsync(context, StatusCodes.Status404NotFound, "no such asset", cancellationToken);
            return;
        }

        var length = file.Length;
        var lastModified = TruncateToSeconds(file.LastWriteTimeUtc); // HTTP dates have 1 s resolution
        // Strong ETag from length + full-resolution mtime: changes whenever the file is replaced or rewritten.
        var etag = new EntityTagHeaderValue($"\"{length:x}-{file.LastWriteTimeUtc.Ticks:x}\"");
        var contentType = ContentTypes.TryGetContentType(file.Name, out var known) ? known : "application/octet-stream";

        var headers = response.GetTypedHeaders();
        headers.ETag = etag;
        headers.LastModified = lastModified;
        response.Headers.AcceptRanges = "bytes";
        if (cacheControl is not null) response.Headers.CacheControl = cacheControl;

        switch (Preconditions.Evaluate(request, etag, lastModified))
        {
            case PreconditionResult.Failed:
                await WriteErrorAsync(context, StatusCodes.Status412PreconditionFailed, "precondition failed", cancellationToken);
                return;
            case PreconditionResult.NotModified:
                response.StatusCode = StatusCodes.Status304NotModified;
                return;
        }

        // Range handling is only defined for GET (RFC 9110 §14.2); If-Range decides whether it still applies.
        var plan = !isHead && Preconditions.RangeStillApplies(request, etag, lastModified)
            ? ByteRanges.Plan(request.GetTypedHeaders().Range, length)
            : RangePlan.WholeFile;

        try
        {
            switch (plan.Outcome)
            {
                case RangeOutcome.Unsatisfiable:
                    headers.ContentRange = new ContentRangeHeaderValue(length);
                    await WriteErrorAsync(context, StatusCodes.Status416RangeNotSatisfiable, "requested range not satisfiable", cancellationToken);
                    break;
                case RangeOutcome.Partial when plan.Ranges.Count == 1:
                    var range = plan.Ranges[0];
                    response.StatusCode = StatusCodes.Status206PartialContent;
                    response.ContentType = contentType;
                    headers.ContentRange = new ContentRangeHeaderValue(range.From, range.To, length);
                    response.ContentLength = range.Length;
                    if (!isHead) await response.SendFileAsync(file.FullName, range.From, range.Length, cancellationToken);
                    break;
                case RangeOutcome.Partial:
                    await SendMultipartAsync(response, file, contentType, length, plan.Ranges, cancellationToken);
                    break;
                default:
                    response.StatusCode = StatusCodes.Status200OK;
                    response.ContentType = contentType;
                    response.ContentLength = length;
                    if (!isHead && length > 0) await response.SendFileAsync(file.FullName, 0, length, cancellationToken);
                    break;
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested || context.RequestAborted.IsCancellationRequested)
        {
            // The machine hung up mid-transfer (reboot, retry): nothing left to answer.
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException && !response.HasStarted)
        {
            // Replaced or deleted between stat and open.
            foreach (var name in new[] { HeaderNames.ContentRange, HeaderNames.ETag, HeaderNames.LastModified, HeaderNames.CacheControl, HeaderNames.AcceptRanges })
                response.Headers.Remove(name);
            await WriteErrorAsync(context, StatusCodes.Status404NotFound, "no such asset", cancellationToken);
        }
    }

    /// <summary>206 multipart/byteranges (RFC 9110 §14.6); Content-Length is computed up front so clients can verify it.</summary>
    private static async Task SendMultipartAsync(HttpResponse response, FileInfo file, string contentType, long length,
        IReadOnlyList<ByteRange> ranges, CancellationToken cancellationToken)
    {
        var boundary = RandomNumberGenerator.GetHexString(32, lowercase: true);
        var partHeaders = ranges
            .Select((r, i) => Encoding.ASCII.GetBytes(
                $"{(i == 0 ? "" : "\r\n")}--{boundary}\r\nContent-Type: {contentType}\r\nContent-Range: bytes {r.From}-{r.To}/{length}\r\n\r\n"))
            .ToArray();
        var closing = Encoding.ASCII.GetBytes($"\r\n--{boundary}--\r\n");

        response.StatusCode = StatusCodes.Status206PartialContent;
        response.ContentType = $"multipart/byteranges; boundary={boundary}";
        response.ContentLength = partHeaders.Sum(h => (long)h.Length) + ranges.Sum(r => r.Length) + closing.Length;

        for (var i = 0; i < ranges.Count; i++)
        {
            await response.Body.WriteAsync(partHeaders[i], cancellationToken);
            await response.SendFileAsync(file.FullName, ranges[i].From, ranges[i].Length, cancellationToken);
        }
        await response.Body.WriteAsync(closing, cancellationToken);
    }

    private static Task WriteErrorAsync(HttpContext context, int status, string reason, CancellationToken cancellationToken)
    {
        var response = context.Response;
        response.StatusCode = status;
        response.ContentType = PlainText;
        var body = Encoding.UTF8.GetBytes(reason + "\n");
        response.ContentLength = body.Length;
        return HttpMethods.IsHead(context.Request.Method) ? Task.CompletedTask : response.Body.WriteAsync(body, cancellationToken).AsTask();
    }

    private static DateTimeOffset TruncateToSeconds(DateTime utc) =>
        new(utc.Ticks - utc.Ticks % TimeSpan.TicksPerSecond, TimeSpan.Zero);
}
