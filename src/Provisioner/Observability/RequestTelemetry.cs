using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO.Pipelines;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;
using Serilog.Events;
using Serilog.Parsing;

namespace Provisioner.Observability;

internal static class RequestTelemetryExtensions
{
    private const string MachineKey = "provisioner.machine";

    /// <summary>Names the machine a request belongs to, for the request log line.</summary>
    public static void SetMachine(this HttpContext context, string machine) => context.Items[MachineKey] = machine;

    internal static string? GetMachine(this HttpContext context) => context.Items.TryGetValue(MachineKey, out var m) ? m as string : null;
}

/// <summary>
/// One structured log line and one metric sample per request: machine, endpoint, status, bytes, ms.
/// Bytes are counted by wrapping the response body feature, which keeps sendfile for file responses.
/// </summary>
/// <remarks>
/// The line is written to Serilog directly, as an event built from a template parsed once (the request scope's
/// RequestId, RequestPath and ConnectionId still join it, as on every other line): going through
/// Microsoft.Extensions.Logging's formatter cost about a third of a boot request's throughput in a boot storm.
/// The metric children are looked up once per endpoint and status.
/// </remarks>
internal sealed class RequestTelemetry(RequestDelegate next, ProvisionerMetrics metrics, Serilog.ILogger logger)
{
    private static readonly MessageTemplate Template = new MessageTemplateParser().Parse(
        "{Method} {Endpoint} {Path} → {Status} {Bytes} bytes in {ElapsedMs:0.0} ms machine={Machine} client={Client}");
    private static readonly LogEventProperty SourceContext = new(Serilog.Core.Constants.SourceContextPropertyName, new ScalarValue(typeof(RequestTelemetry).FullName));

    // Route patterns and status codes are few (unmatched requests share "unmatched"), so these stay small.
    private readonly ConcurrentDictionary<(string Endpoint, int Status), Prometheus.Counter.Child> _requests = new();
    private readonly ConcurrentDictionary<string, Prometheus.Counter.Child> _bytes = new(StringComparer.Ordinal);

    public async Task InvokeAsync(HttpContext context)
    {
        var start = Stopwatch.GetTimestamp();
        var inner = context.Features.Get<IHttpResponseBodyFeature>()!;
        var counting = new CountingBodyFeature(inner);
        context.Features.Set<IHttpResponseBodyFeature>(counting);
        try
        {
            await next(context);
        }
        finally
        {
            context.Features.Set(inner);
            var endpoint = (context.GetEndpoint() as RouteEndpoint)?.RoutePattern.RawText ?? "unmatched";
            var status = context.Response.StatusCode;
            _requests.GetOrAdd((endpoint, status), static (key, m) => m.Requests.WithLabels(key.Endpoint, key.Status.ToString(System.Globalization.CultureInfo.InvariantCulture)), metrics).Inc();
            _bytes.GetOrAdd(endpoint, static (key, m) => m.ResponseBytes.WithLabels(key), metrics).Inc(counting.Bytes);
            var level = status >= 500 ? LogEventLevel.Error : LogEventLevel.Information;
            if (logger.IsEnabled(level))
            {
                var activity = Activity.Current;
                logger.Write(new LogEvent(DateTimeOffset.Now, level, null, Template,
                [
                    new LogEventProperty("Method", new ScalarValue(context.Request.Method)),
                    new LogEventProperty("Endpoint", new ScalarValue(endpoint)),
                    new LogEventProperty("Path", new ScalarValue(context.Request.Path.Value)),
                    new LogEventProperty("Status", new ScalarValue(status)),
                    new LogEventProperty("Bytes", new ScalarValue(counting.Bytes)),
                    new LogEventProperty("ElapsedMs", new ScalarValue(Stopwatch.GetElapsedTime(start).TotalMilliseconds)),
                    new LogEventProperty("Machine", new ScalarValue(context.GetMachine() ?? "-")),
                    new LogEventProperty("Client", new ScalarValue(context.Connection.RemoteIpAddress?.ToString() ?? "-")),
                    SourceContext,
                ], activity?.TraceId ?? default, activity?.SpanId ?? default));
            }
        }
    }

    private sealed class CountingBodyFeature(IHttpResponseBodyFeature inner) : IHttpResponseBodyFeature
    {
        private CountingStream? _stream;
        private CountingPipeWriter? _writer;
        public long Bytes;

        public Stream Stream => _stream ??= new CountingStream(inner.Stream, this);
        public PipeWriter Writer => _writer ??= new CountingPipeWriter(inner.Writer, this);
        public Task CompleteAsync() => inner.CompleteAsync();
        public void DisableBuffering() => inner.DisableBuffering();
        public Task StartAsync(CancellationToken cancellationToken = default) => inner.StartAsync(cancellationToken);

        public async Task SendFileAsync(string path, long offset, long? count, CancellationToken cancellationToken = default)
        {
            await inner.SendFileAsync(path, offset, count, cancellationToken);
            Interlocked.Add(ref Bytes, count ?? new FileInfo(path).Length - offset);
        }
    }

    private sealed class CountingPipeWriter(PipeWriter inner, CountingBodyFeature owner) : PipeWriter
    {
        public override void Advance(int bytes) { Interlocked.Add(ref owner.Bytes, bytes); inner.Advance(bytes); }
        public override void CancelPendingFlush() => inner.CancelPendingFlush();
        public override void Complete(Exception? exception = null) => inner.Complete(exception);
        public override ValueTask CompleteAsync(Exception? exception = null) => inner.CompleteAsync(exception);
        public override ValueTask<FlushResult> FlushAsync(CancellationToken cancellationToken = default) => inner.FlushAsync(cancellationToken);
        public override Memory<byte> GetMemory(int sizeHint = 0) => inner.GetMemory(sizeHint);
        public override Span<byte> GetSpan(int sizeHint = 0) => inner.GetSpan(sizeHint);
        public override bool CanGetUnflushedBytes => inner.CanGetUnflushedBytes;
        public override long UnflushedBytes => inner.UnflushedBytes;
    }

    private sealed class CountingStream(Stream inner, CountingBodyFeature owner) : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) { Interlocked.Add(ref owner.Bytes, count); inner.Write(buffer, offset, count); }
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Interlocked.Add(ref owner.Bytes, buffer.Length);
            return inner.WriteAsync(buffer, cancellationToken);
        }
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }
}
