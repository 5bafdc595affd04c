using System.Buffers;
using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using System.Threading.Channels;
using Microsoft.AspNetCore.Http;

namespace Provisioner.FakeKubernetes;

/// <summary>
/// Watch streams: from a resourceVersion (or the current objects), BOOKMARK events, 410 Gone as an ERROR event
/// once the history is compacted, the API server's timeout, and dropping them on demand (the server closing them,
/// or the connection reset).
/// </summary>
internal sealed class WatchHub
{
    private readonly ObjectStore _store;
    private readonly FakeKubernetesOptions _options;
    private readonly object _gate = new();
    private readonly List<WatchSubscription> _watches = [];
    private readonly ConcurrentDictionary<string, int> _started = new(StringComparer.Ordinal);
    private int _goneAnswers;

    public WatchHub(ObjectStore store, FakeKubernetesOptions options)
    {
        _store = store;
        _options = options;
        store.Changed += Deliver;
    }

    public int OpenWatches { get { lock (_gate) return _watches.Count; } }

    public int OpenWatchesOf(string plural) { lock (_gate) return _watches.Count(w => w.Plural == plural); }

    /// <summary>Watches of <paramref name="plural"/> that started streaming (not answered 410), ever.</summary>
    public int StartedWatchesOf(string plural) => _started.GetValueOrDefault(plural);

    /// <summary>Watches answered with a 410 Gone ERROR event.</summary>
    public int GoneAnswers => Volatile.Read(ref _goneAnswers);

    /// <summary>
    /// Opens a watch of <paramref name="path"/>'s kind: the subscription, holding its backlog, or the 410 Gone Status
    /// when <paramref name="requested"/> is older than the history (or <paramref name="forceGone"/>).
    /// </summary>
    /// <param name="abortConnection">Resets the watch's connection when it is dropped with abort.</param>
    public (WatchSubscription? Subscription, JsonObject? Gone) Open(ResourcePath path, string? requested, LabelSelector selector, bool forceGone, Action abortConnection)
    {
        var subscription = new WatchSubscription(path.Kind.Plural, path.Kind.Namespaced ? path.Namespace : null, selector, abortConnection);
        var gone = _store.StartWatch(path.Kind.Plural, requested, forceGone, subscription.Wants, backlog =>
        {
            // Under the store's lock: the backlog goes in before any later change can be delivered.
            foreach (var e in backlog) subscription.Channel.Writer.TryWrite(e);
            lock (_gate) _watches.Add(subscription);
        });
        if (gone is not null)
        {
            Interlocked.Increment(ref _goneAnswers);
            return (null, gone);
        }
        _started.AddOrUpdate(path.Kind.Plural, 1, (_, n) => n + 1);
        return (subscription, null);
    }

    /// <summary>Serves <c>GET …?watch=true</c>: the response stays open, one JSON event per line, until it times out, is dropped or the client leaves.</summary>
    public async Task ServeAsync(HttpContext context, ResourcePath path, bool forceGone)
    {
        var query = context.Request.Query;
        var bookmarks = QueryFlag.IsTrue(query["allowWatchBookmarks"]);
        var timeout = int.TryParse(query["timeoutSeconds"], out var seconds) && seconds > 0 ? TimeSpan.FromSeconds(seconds) : _options.MaxWatchDuration;

        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        // Send the headers now: the client waits for them before it reads events.
        await context.Response.StartAsync(context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);

        var (subscription, gone) = Open(path, query["resourceVersion"], LabelSelector.Parse(query["labelSelector"]), forceGone, context.Abort);
        try
        {
            if (gone is not null)
            {
                await WriteEventAsync(context, "ERROR", gone);
                return;
            }
            using var timeoutCts = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted, subscription!.Dropped.Token);
            timeoutCts.CancelAfter(timeout);
            var ct = timeoutCts.Token;
            var reader = subscription.Channel.Reader;
            while (!ct.IsCancellationRequested)
            {
                var waitForEvent = reader.WaitToReadAsync(ct).AsTask();
                // The API server's bookmark period (a protocol timer, not a test's wait), shortened by the options.
                var bookmarkDue = bookmarks ? Task.Delay(_options.BookmarkInterval, ct) : Task.Delay(Timeout.Infinite, ct);
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
            if (subscription is not null) Close(subscription);
        }
    }

    public void Close(WatchSubscription subscription)
    {
        lock (_gate) _watches.Remove(subscription);
    }

    /// <summary>
    /// Ends every open watch (of <paramref name="plural"/> only, when given) now; <paramref name="abort"/> resets the
    /// connection instead of ending the response. Returns how many were dropped.
    /// </summary>
    public int Drop(bool abort = false, string? plural = null)
    {
        WatchSubscription[] open;
        lock (_gate) open = [.. _watches.Where(w => plural is null || w.Plural == plural)];
        foreach (var w in open) w.Drop(abort);
        return open.Length;
    }

    /// <summary>Hands a change to the watches that select it. Called under the store's lock, in resourceVersion order.</summary>
    private void Deliver(StoredEvent e)
    {
        lock (_gate)
            foreach (var w in _watches)
                if (w.Wants(e.Plural, e.Namespace, e.Object)) w.Channel.Writer.TryWrite(e);
    }

    private JsonObject Bookmark(KindInfo kind) => new()
    {
        ["kind"] = kind.Kind,
        ["apiVersion"] = kind.ApiVersion,
        ["metadata"] = new JsonObject { ["resourceVersion"] = WireJson.Rv(_store.ResourceVersion) },
    };

    private static async Task WriteEventAsync(HttpContext context, string type, JsonObject obj)
    {
        var body = context.Response.BodyWriter;
        body.Write(WireJson.EventLine(type, WireJson.Serialize(obj)));
        await body.FlushAsync(context.RequestAborted);
    }
}

/// <summary>One open watch: what it selects, and the events waiting to be written to it.</summary>
internal sealed class WatchSubscription(string plural, string? ns, LabelSelector selector, Action abortConnection)
{
    public Channel<StoredEvent> Channel { get; } = System.Threading.Channels.Channel.CreateUnbounded<StoredEvent>();
    public CancellationTokenSource Dropped { get; } = new();
    public bool AbortRequested { get; private set; }

    public string Plural => plural;

    public bool Wants(string p, string n, JsonObject obj) => p == plural && (ns is null || n == ns) && selector.Matches(obj);

    public void Drop(bool abort)
    {
        AbortRequested = abort;
        if (abort) abortConnection();
        Dropped.Cancel();
    }
}
