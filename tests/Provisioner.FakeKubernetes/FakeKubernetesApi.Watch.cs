using System.Diagnostics;
using System.Globalization;
using System.Buffers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Provisioner.FakeKubernetes;

/// <summary>Watches: from a resourceVersion, with BOOKMARKs, 410 Gone once history is compacted, dropped on demand.</summary>
public sealed partial class FakeKubernetesApi
{
    private readonly List<WatchSubscription> _watches = [];

    // ---------------------------------------------------------------- watch

    private async Task WatchAsync(HttpContext context, ResourcePath path)
    {
        var query = context.Request.Query;
        var bookmarks = IsTrue(query["allowWatchBookmarks"]);
        var timeout = int.TryParse(query["timeoutSeconds"], out var seconds) && seconds > 0 ? TimeSpan.FromSeconds(seconds) : Options.MaxWatchDuration;
        var selector = LabelSelector.Parse(query["labelSelector"]);
        var requested = (string?)query["resourceVersion"];

        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        // Send the headers now: the client waits for them before it reads events.
        await context.Response.StartAsync(context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);

        var subscription = new WatchSubscription(path.Kind.Plural, path.Kind.Namespaced ? path.Namespace : null, selector, context);
        List<StoredEvent> backlog;
        lock (_gate)
        {
            var forcedGone = _goneOnNextWatch.TryRemove(path.Kind.Plural, out _) || _goneOnNextWatch.TryRemove(AnyKind, out _);
            long from = 0;
            var gone = forcedGone || (!string.IsNullOrEmpty(requested) && requested != "0" &&
                                      (!long.TryParse(requested, CultureInfo.InvariantCulture, out from) || from + 1 < _compactedBefore));
            if (gone)
            {
                subscription.Gone = Status.Gone(requested ?? "", _compactedBefore);
                backlog = [];
            }
            else if (string.IsNullOrEmpty(requested) || requested == "0")
            {
                // No resourceVersion: the current state as synthetic ADDED events, then changes.
                var plural = path.Kind.Plural;
                backlog = [.. _objects[plural].Where(kv => subscription.Wants(plural, kv.Key.Namespace, kv.Value.Object))
                    .OrderBy(kv => kv.Key.Name, StringComparer.Ordinal)
                    .Select(kv => new StoredEvent(kv.Value.ResourceVersion, plural, kv.Key.Namespace, "ADDED", kv.Value.Object,
                        EventLine("ADDED", kv.Value.Json)))];
                _watches.Add(subscription);
            }
            else
            {
                backlog = [.. _history.Where(e => e.ResourceVersion > from && subscription.Wants(e.Plural, e.Namespace, e.Object))];
                _watches.Add(subscription);
            }
        }

        try
        {
            if (subscription.Gone is { } status)
            {
                Interlocked.Increment(ref _goneAnswers);
                await WriteEventAsync(context, "ERROR", status);
                return;
            }
            foreach (var e in backlog) subscription.Channel.Writer.TryWrite(e);

            using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, subscription.Dropped.Token);
            timeoutCts.CancelAfter(timeout);
            var ct = timeoutCts.Token;
            var reader = subscription.Channel.Reader;
            while (!ct.IsCancellationRequested)
            {
                var waitForEvent = reader.WaitToReadAsync(ct).AsTask();
                var bookmarkDue = bookmarks ? Task.Delay(Options.BookmarkInterval, ct) : Task.Delay(Timeout.Infinite, ct);
                try { await Task.WhenAny(waitForEvent, bookmarkDue); }
                catch (OperationCanceledException) { break; }
                if (ct.IsCancellationRequested) break;
                if (waitForEvent.IsCompletedSuccessfully && waitForEvent.Result)
                {
                    // Everything that is ready goes out in one flush (one chunk), each line serialized once at publish.
                    var body = context.Response.BodyWriter;
                    while (reader.TryRead(out var e)) body.Write(e.Line);
                    await body.FlushAsync(context.RequestAborted);
                }
                else if (bookmarks && bookmarkDue.IsCompletedSuccessfully)
                {
                    await WriteEventAsync(context, "BOOKMARK", Bookmark(path.Kind));
                }
            }
            if (subscription.AbortRequested) context.Abort();
        }
        catch (Exception e) when (e is OperationCanceledException or IOException) { /* client went away */ }
        finally
        {
            lock (_gate) _watches.Remove(subscription);
        }
    }

    private static async Task WriteEventAsync(HttpContext context, string type, JsonObject obj)
    {
        var body = context.Response.BodyWriter;
        body.Write(EventLine(type, Serialize(obj)));
        await body.FlushAsync(context.RequestAborted);
    }

    /// <summary><c>{"type":"…","object":…}</c> and a newline, as the API server frames watch events.</summary>
    private static byte[] EventLine(string type, byte[] objectJson)
    {
        var line = new ArrayBufferWriter<byte>(objectJson.Length + 40);
        using (var writer = new Utf8JsonWriter(line))
        {
            writer.WriteStartObject();
            writer.WriteString("type", type);
            writer.WritePropertyName("object");
            writer.WriteRawValue(objectJson, skipInputValidation: true);
            writer.WriteEndObject();
        }
        line.Write("\n"u8);
        return line.WrittenSpan.ToArray();
    }

    private static byte[] Serialize(JsonObject obj)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer)) obj.WriteTo(writer);
        return buffer.WrittenSpan.ToArray();
    }

    private JsonObject Bookmark(KindInfo kind)
    {
        lock (_gate)
            return new JsonObject
            {
                ["kind"] = kind.Kind,
                ["apiVersion"] = kind.ApiVersion,
                ["metadata"] = new JsonObject { ["resourceVersion"] = Rv(_resourceVersion) },
            };
    }


    private sealed class WatchSubscription(string plural, string? ns, LabelSelector selector, HttpContext context)
    {
        public System.Threading.Channels.Channel<StoredEvent> Channel { get; } = System.Threading.Channels.Channel.CreateUnbounded<StoredEvent>();
        public CancellationTokenSource Dropped { get; } = new();
        public bool AbortRequested { get; private set; }
        public JsonObject? Gone { get; set; }

        public string Plural => plural;

        public bool Wants(string p, string n, JsonObject obj) => p == plural && (ns is null || n == ns) && selector.Matches(obj);

        public void Drop(bool abort)
        {
            AbortRequested = abort;
            if (abort) context.Abort();
            Dropped.Cancel();
        }
    }
}
