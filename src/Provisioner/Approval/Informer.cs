using System.Collections.Concurrent;
using System.Net;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Microsoft.Extensions.Logging;

namespace Provisioner.Approval;

/// <summary>
/// A local copy of one kind of cluster-scoped object, kept current as client-go's informers do: list, then
/// watch from the list's resourceVersion; re-list on 410 Gone and on every resync; reconnect a dropped watch
/// from the last resourceVersion seen. Readers look objects up here instead of asking the API server.
/// </summary>
internal sealed class Informer<T>(
    string kind,
    Informer<T>.ListFunc list,
    Informer<T>.WatchFunc watch,
    ApproverOptions options,
    TimeProvider time,
    ILogger logger) where T : class, IKubernetesObject<V1ObjectMeta>
{
    public delegate Task<(IList<T> Items, string ResourceVersion)> ListFunc(CancellationToken ct);

    /// <summary>A <see cref="ListFunc"/> from a KubernetesClient list call.</summary>
    public static ListFunc Listing<TList>(Func<CancellationToken, Task<TList>> list) where TList : IItems<T>, IMetadata<V1ListMeta> =>
        async ct =>
        {
            var result = await list(ct);
            return (result.Items, result.Metadata.ResourceVersion);
        };

    public delegate IAsyncEnumerable<(WatchEventType Type, T Object)> WatchFunc(string resourceVersion, int timeoutSeconds, Action<Exception> onError, CancellationToken ct);

    private readonly ConcurrentDictionary<string, T> _items = new(StringComparer.Ordinal);
    private readonly TaskCompletionSource _synced = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>After a list replaced the cache: every object listed. Objects no longer there were reported as deleted first.</summary>
    public Action<IReadOnlyList<T>>? Listed { get; init; }

    /// <summary>After the watch changed the cache.</summary>
    public Action<WatchEventType, T>? Changed { get; init; }

    /// <summary>After a list failed; it is retried with backoff.</summary>
    public Action<Exception>? ListFailed { get; init; }

    /// <summary>Completes after the first successful list.</summary>
    public Task Synced => _synced.Task;

    public T? Get(string name) => _items.GetValueOrDefault(name);

    public int Count => _items.Count;

    /// <summary>Stores an object this process just wrote, before the watch brings it.</summary>
    public void Put(T obj) => _items[obj.Metadata.Name] = obj;

    /// <summary>Forgets an object this process found gone.</summary>
    public bool Remove(string name, out T? removed) => _items.TryRemove(name, out removed);

    public async Task RunAsync(CancellationToken ct)
    {
        var backoff = Backoff.For(options);
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var (items, rv) = await list(ct);
                Replace(items);
                _synced.TrySetResult();
                logger.LogDebug("Listed {Count} {Kind} at resourceVersion {ResourceVersion}", items.Count, kind, rv);
                var resyncAt = time.GetUtcNow() + options.ResyncInterval;
                backoff.Reset();
                while (!ct.IsCancellationRequested && time.GetUtcNow() < resyncAt)
                {
                    var (next, gone, delivered, failure) = await WatchAsync(rv, resyncAt, ct);
                    if (gone)
                    {
                        logger.LogInformation("{Kind} watch from resourceVersion {ResourceVersion} is too old (410 Gone); listing again", kind, rv);
                        break;
                    }
                    rv = next;
                    if (failure is not null)
                    {
                        logger.LogInformation(failure, "{Kind} watch dropped ({Error}); reconnecting from resourceVersion {ResourceVersion}", kind, failure.Message, rv);
                        if (!delivered) await Task.Delay(backoff.Next(failure), time, ct);
                    }
                    if (delivered) backoff.Reset();
                }
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                var delay = backoff.Next(e);
                logger.LogWarning(e, "Listing {Kind} failed; retrying in {Delay}", kind, delay);
                ListFailed?.Invoke(e);
                await Task.Delay(delay, time, ct);
            }
        }
    }

    private async Task<(string ResourceVersion, bool Gone, bool Delivered, Exception? Failure)> WatchAsync(string rv, DateTimeOffset until, CancellationToken ct)
    {
        var remaining = until - time.GetUtcNow();
        if (remaining <= TimeSpan.Zero) return (rv, false, false, null);
        // The server ends the watch at the resync time (timeoutSeconds) rather than this side cancelling it:
        // a watch cancelled while the client still waits for its first line would leave its connection behind.
        var gone = false;
        var delivered = false;
        Exception? streamError = null;
        try
        {
            await foreach (var (type, obj) in watch(rv, (int)Math.Ceiling(remaining.TotalSeconds), e =>
                           {
                               if (e is KubernetesException { Status.Code: 410 }) gone = true;
                               else streamError = e;
                           }, ct))
            {
                delivered = true;
                rv = obj.Metadata?.ResourceVersion ?? rv;
                switch (type)
                {
                    case WatchEventType.Added or WatchEventType.Modified:
                        _items[obj.Metadata!.Name] = obj;
                        Changed?.Invoke(type, obj);
                        break;
                    case WatchEventType.Deleted:
                        _items.TryRemove(obj.Metadata!.Name, out _);
                        Changed?.Invoke(type, obj);
                        break;
                }
            }
        }
        catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.Gone)
        {
            gone = true;
        }
        catch (Exception e) when (!ct.IsCancellationRequested && e is IOException or HttpRequestException or HttpOperationException)
        {
            return (rv, gone, delivered, e);
        }
        return (rv, gone, delivered, streamError);
    }

    private void Replace(IList<T> items)
    {
        var names = items.Select(i => i.Metadata.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var name in _items.Keys)
            if (!names.Contains(name) && _items.TryRemove(name, out var gone))
                Changed?.Invoke(WatchEventType.Deleted, gone);
        foreach (var item in items) _items[item.Metadata.Name] = item;
        Listed?.Invoke([.. items]);
    }
}
