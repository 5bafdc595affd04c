using System.Collections.Concurrent;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Provisioner.Tests.Release;

/// <summary>
/// A download origin for sync tests: real Kestrel on a loopback port serving <c>/files/&lt;name&gt;</c> with
/// <c>Range: bytes=N-</c> support, recording every request, and able to misbehave on purpose (flip a byte,
/// drop the connection part-way once, answer slowly).
/// </summary>
internal sealed class TestOrigin : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentDictionary<string, byte[]> _files = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<(string Path, string? Range)> _requests = new();
    private int _dropsLeft;
    private int _active;
    private int _maxActive;

    private TestOrigin(WebApplication app) => _app = app;

    public Uri BaseAddress { get; private set; } = null!;
    public IReadOnlyCollection<(string Path, string? Range)> Requests => [.. _requests];
    /// <summary>Byte index to flip in every answer (simulates a corrupted mirror); null for none.</summary>
    public long? CorruptAt { get; set; }
    /// <summary>Bytes sent before the connection is dropped, for the next <see cref="DropTimes"/> answers.</summary>
    public int DropAfter { get; set; }
    public int DropTimes { set => _dropsLeft = value; }
    /// <summary>Instead of dropping the connection after <see cref="DropAfter"/> bytes, go silent (keep it open).</summary>
    public bool StallInsteadOfDrop { get; set; }
    /// <summary>Pause between 64 KiB chunks, so concurrent clients overlap.</summary>
    public TimeSpan ChunkDelay { get; set; }

    public Uri Url(string name) => new(BaseAddress, "/files/" + name);

    public void Add(string name, byte[] content) => _files[name] = content;

    /// <summary>The most answers that were in progress at the same time.</summary>
    public int MaxConcurrent => Volatile.Read(ref _maxActive);

    public int GetsOf(string name) => _requests.Count(r => r.Path == "/files/" + name);

    public static async Task<TestOrigin> StartAsync(CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var origin = new TestOrigin(app);
        app.MapGet("/files/{name}", origin.ServeAsync);
        await app.StartAsync(cancellationToken);
        origin.BaseAddress = new Uri(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return origin;
    }

    private async Task ServeAsync(HttpContext context, string name)
    {
        var active = Interlocked.Increment(ref _active);
        int max;
        while (active > (max = Volatile.Read(ref _maxActive)) && Interlocked.CompareExchange(ref _maxActive, active, max) != max) { }
        try
        {
            await AnswerAsync(context, name);
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    private async Task AnswerAsync(HttpContext context, string name)
    {
        var range = context.Request.Headers.Range.ToString();
        _requests.Enqueue((context.Request.Path.Value!, range.Length == 0 ? null : range));
        if (!_files.TryGetValue(name, out var content))
        {
            context.Response.StatusCode = 404;
            return;
        }
        if (CorruptAt is { } at)
        {
            content = (byte[])content.Clone();
            content[at] ^= 0x01;
        }
        long from = 0;
        if (range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-') && long.TryParse(range[6..^1], out var start))
        {
            if (start >= content.Length)
            {
                context.Response.StatusCode = 416;
                return;
            }
            from = start;
            context.Response.StatusCode = 206;
            context.Response.Headers.ContentRange = $"bytes {from}-{content.Length - 1}/{content.Length}";
        }
        context.Response.ContentLength = content.Length - from;
        var drop = Interlocked.Decrement(ref _dropsLeft) >= 0;
        var sent = 0L;
        for (var i = from; i < content.Length; i += 65536)
        {
            var chunk = content.AsMemory((int)i, (int)Math.Min(65536, content.Length - i));
            if (drop && sent + chunk.Length > DropAfter)
            {
                await context.Response.Body.WriteAsync(chunk[..(int)(DropAfter - sent)], context.RequestAborted);
                await context.Response.Body.FlushAsync(context.RequestAborted);
                if (StallInsteadOfDrop)
                {
                    try { await Task.Delay(Timeout.Infinite, context.RequestAborted); }
                    catch (OperationCanceledException) { }
                    return;
                }
                await Task.Delay(100, context.RequestAborted);
                context.Abort();
                return;
            }
            await context.Response.Body.WriteAsync(chunk, context.RequestAborted);
            sent += chunk.Length;
            if (ChunkDelay > TimeSpan.Zero)
            {
                await context.Response.Body.FlushAsync(context.RequestAborted);
                await Task.Delay(ChunkDelay, context.RequestAborted);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
