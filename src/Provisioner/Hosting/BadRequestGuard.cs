using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Provisioner.Hosting;

/// <summary>
/// The last line of defence: a request that makes the framework throw a <see cref="BadHttpRequestException"/>
/// (oversized body, malformed form) gets its 4xx with a reason, and anything unexpected a 500 with a short
/// message and no stack trace; the details go to the log.
/// </summary>
internal sealed class BadRequestGuard(RequestDelegate next, ILogger<BadRequestGuard> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        try
        {
            await next(context);
        }
        catch (BadHttpRequestException e) when (!context.Response.HasStarted)
        {
            context.Response.Clear();
            context.Response.StatusCode = e.StatusCode;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync($"{e.StatusCode}: {e.Message}\n", context.RequestAborted);
        }
        catch (Exception e) when (!context.Response.HasStarted && e is not OperationCanceledException)
        {
            logger.LogError(e, "Unhandled error for {Method} {Path}", context.Request.Method, context.Request.Path.Value);
            context.Response.Clear();
            context.Response.StatusCode = StatusCodes.Status500InternalServerError;
            context.Response.ContentType = "text/plain; charset=utf-8";
            await context.Response.WriteAsync("500: internal error; see the server log\n", context.RequestAborted);
        }
    }
}
