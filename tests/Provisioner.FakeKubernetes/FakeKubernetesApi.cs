using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Provisioner.FakeKubernetes;

/// <summary>
/// A hand-written, in-process fake of the few parts of the Kubernetes API the CSR approver uses, served by
/// Kestrel on loopback over plain HTTP and spoken to by the real KubernetesClient. No Kubernetes API server
/// can run on these machines, so this is the one fake the tests allow; it follows the wire format of the
/// API reference (objects, lists, Status errors, watch events) and is checked against JSON fixtures written
/// from it (tests/Provisioner.Tests/FakeKubernetes/Fixtures).
/// </summary>
/// <remarks>
/// Modelled: a cluster-wide resourceVersion counter; create (with generateName), get, list (with
/// resourceVersion and label selectors), watch (from a resourceVersion, BOOKMARK events, 410 Gone as an
/// ERROR event once history is compacted), update with optimistic concurrency (409 Conflict), delete; the
/// CSR <c>/approval</c> subresource; authentication by bearer token, including bootstrap tokens checked
/// against their kube-system Secrets as the API server's bootstrap authenticator does.
/// Not modelled: authorization (RBAC), admission, namespaces as objects, field selectors, protobuf.
/// </remarks>
public sealed class FakeKubernetesApi : IAsyncDisposable
{
    private static readonly JsonSerializerOptions Compact = new() { WriteIndented = false };

    private readonly WebApplication _app;
    private readonly object _gate = new();
    private readonly Dictionary<(string Plural, string Namespace, string Name), JsonObject> _objects = [];
    private readonly List<StoredEvent> _history = [];
    private readonly List<WatchSubscription> _watches = [];
    private readonly ConcurrentDictionary<string, Identity> _users = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentQueue<ApprovalWrite> _approvalWrites = new();
    private long _resourceVersion = 100;
    private long _compactedBefore;
    private int _goneOnNextWatch;
    private readonly ConcurrentDictionary<string, int> _interveneBeforeNextUpdate = new(StringComparer.Ordinal);
    private volatile bool _unavailable;
    private int _goneAnswers;
    private readonly ConcurrentDictionary<string, long> _csrCreated = new(StringComparer.Ordinal);

    private FakeKubernetesApi(WebApplication app, FakeKubernetesOptions options)
    {
        _app = app;
        Options = options;
    }

    public FakeKubernetesOptions Options { get; }

    public Uri BaseAddress =>
        new(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());

    /// <summary>Starts the fake on a free loopback port.</summary>
    public static async Task<FakeKubernetesApi> StartAsync(FakeKubernetesOptions? options = null, CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        var app = builder.Build();
        var fake = new FakeKubernetesApi(app, options ?? new FakeKubernetesOptions());
        app.Map("/{**path}", fake.HandleAsync);
        await app.StartAsync(cancellationToken);
        return fake;
    }

    // ---------------------------------------------------------------- identities

    /// <summary>Requests carrying <c>Authorization: Bearer <paramref name="token"/></c> are made as this user.</summary>
    public void AddUser(string token, string userName, params string[] groups) =>
        _users[token] = new Identity(userName, [.. groups, "system:authenticated"]);

    /// <summary>A kubeconfig (YAML) that reaches this fake over HTTP as the user of <paramref name="token"/>.</summary>
    public string Kubeconfig(string token) => $"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: fake
          cluster:
            server: {BaseAddress.GetLeftPart(UriPartial.Authority)}
        users:
        - name: fake-user
          user:
            token: {token}
        contexts:
        - name: fake
          context:
            cluster: fake
            user: fake-user
        current-context: fake
        """;

    // ---------------------------------------------------------------- fault injection

    /// <summary>Ends every open watch now; <paramref name="abort"/> resets the connection instead of ending the response.</summary>
    public int DropWatches(bool abort = false)
    {
        WatchSubscription[] open;
        lock (_gate) open = [.. _watches];
        foreach (var w in open) w.Drop(abort);
        return open.Length;
    }

    /// <summary>Forgets the event history, as etcd compaction does: a watch from any older resourceVersion gets 410 Gone.</summary>
    public void CompactHistory()
    {
        lock (_gate)
        {
            _compactedBefore = _resourceVersion + 1;
            _history.Clear();
        }
    }

    /// <summary>The next watch request is answered with a 410 Gone ERROR event whatever its resourceVersion.</summary>
    public void ForceGoneOnNextWatch() => Interlocked.Exchange(ref _goneOnNextWatch, 1);

    /// <summary>
    /// Before the next update (PUT) of a <paramref name="plural"/> object, another writer changes that object
    /// first, so the update carries a stale resourceVersion and gets a genuine 409 Conflict.
    /// </summary>
    public void InterveneBeforeNextUpdate(string plural) => _interveneBeforeNextUpdate.AddOrUpdate(plural, 1, (_, n) => n + 1);

    /// <summary>While true, every request is answered 503, as an API server that is still starting.</summary>
    public bool Unavailable { get => _unavailable; set => _unavailable = value; }

    // ---------------------------------------------------------------- inspection

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary>Every successful write to a CSR's <c>/approval</c> subresource.</summary>
    public IReadOnlyList<ApprovalWrite> ApprovalWrites => [.. _approvalWrites];

    public int OpenWatches { get { lock (_gate) return _watches.Count; } }

    /// <summary>When each CSR was stored, in <see cref="Stopwatch.GetTimestamp"/> ticks (for latency measurements).</summary>
    public IReadOnlyDictionary<string, long> CsrCreationTimestamps => _csrCreated;

    /// <summary>Watches answered with a 410 Gone ERROR event.</summary>
    public int GoneAnswers => Volatile.Read(ref _goneAnswers);

    public JsonObject? Get(string plural, string? ns, string name)
    {
        lock (_gate) return _objects.GetValueOrDefault((plural, ns ?? "", name))?.DeepClone().AsObject();
    }

    public IReadOnlyList<JsonObject> List(string plural, string? ns = null)
    {
        lock (_gate)
            return [.. _objects.Where(kv => kv.Key.Plural == plural && (ns is null || kv.Key.Namespace == ns))
                .OrderBy(kv => kv.Key.Name, StringComparer.Ordinal).Select(kv => kv.Value.DeepClone().AsObject())];
    }

    // ---------------------------------------------------------------- HTTP

    private async Task HandleAsync(HttpContext context)
    {
        var user = Authenticate(context.Request);
        try { await HandleAsAsync(context, user); }
        finally
        {
            _requests.Enqueue(new RecordedRequest(context.Request.Method, context.Request.Path + context.Request.QueryString, user?.Name, context.Response.StatusCode));
        }
    }

    private async Task HandleAsAsync(HttpContext context, Identity? user)
    {
        var request = context.Request;
        if (_unavailable)
        {
            await WriteAsync(context, 503, Status.Failure(503, "ServiceUnavailable", "the server is currently unable to handle the request"));
            return;
        }
        if (user is null)
        {
            await WriteAsync(context, 401, Status.Failure(401, "Unauthorized", "Unauthorized"));
            return;
        }
        if (ResourcePath.Parse(request.Path.Value ?? "") is not { } path)
        {
            await WriteAsync(context, 404, Status.Failure(404, "NotFound", "the server could not find the requested resource"));
            return;
        }

        switch (request.Method)
        {
            case "GET" when path.Name is null && IsTrue(request.Query["watch"]):
                await WatchAsync(context, path);
                return;
            case "GET" when path.Name is null:
                await WriteAsync(context, 200, ListObjects(path, request.Query["labelSelector"]));
                return;
            case "GET":
                await RespondAsync(context, GetOne(path));
                return;
            case "POST" when path.Name is null:
                await RespondAsync(context, await CreateAsync(context, path, user), created: true);
                return;
            case "PUT" when path.Name is not null:
                await RespondAsync(context, await UpdateAsync(context, path));
                return;
            case "DELETE" when path.Name is not null:
                await RespondAsync(context, Delete(path));
                return;
            default:
                await WriteAsync(context, 405, Status.Failure(405, "MethodNotAllowed", $"the server does not allow this method on the requested resource"));
                return;
        }
    }

    private static bool IsTrue(string? value) => value is "1" or "true";

    private Identity? Authenticate(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal)) return null;
        var token = header["Bearer ".Length..].Trim();
        if (_users.TryGetValue(token, out var user)) return user;
        return BootstrapTokenIdentity(token);
    }

    /// <summary>The API server's bootstrap-token authenticator: a valid <c>bootstrap-token-&lt;id&gt;</c> Secret in kube-system.</summary>
    private Identity? BootstrapTokenIdentity(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 2 || parts[0].Length != 6 || parts[1].Length != 16) return null;
        JsonObject? secret;
        lock (_gate) secret = _objects.GetValueOrDefault(("secrets", "kube-system", "bootstrap-token-" + parts[0]));
        if (secret is null || (string?)secret["type"] != "bootstrap.kubernetes.io/token") return null;
        string? Data(string key) => secret["data"]?[key] is { } v ? Encoding.UTF8.GetString(Convert.FromBase64String((string)v!)) : null;
        if (Data("token-id") != parts[0] || Data("token-secret") != parts[1] || Data("usage-bootstrap-authentication") != "true") return null;
        if (Data("expiration") is { } expiration && DateTimeOffset.Parse(expiration, CultureInfo.InvariantCulture) <= DateTimeOffset.UtcNow) return null;
        var extra = Data("auth-extra-groups")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        return new Identity("system:bootstrap:" + parts[0], ["system:bootstrappers", .. extra, "system:authenticated"]);
    }

    private async Task RespondAsync(HttpContext context, (JsonObject? Object, JsonObject? Error) result, bool created = false)
    {
        if (result.Error is { } error) await WriteAsync(context, (int)error["code"]!, error);
        else await WriteAsync(context, created ? 201 : 200, result.Object!);
    }

    private static async Task WriteAsync(HttpContext context, int status, JsonObject body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body.ToJsonString(Compact), context.RequestAborted);
    }

    private static async Task<JsonObject?> ReadBodyAsync(HttpContext context)
    {
        try { return (await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted)) as JsonObject; }
        catch (JsonException) { return null; }
    }

    // ---------------------------------------------------------------- verbs

    private (JsonObject?, JsonObject?) GetOne(ResourcePath path)
    {
        lock (_gate)
        {
            if (!_objects.TryGetValue(path.Key, out var obj)) return (null, Status.NotFound(path.Kind, path.Name!));
            return (Stored(path.Kind, obj), null);
        }
    }

    private JsonObject ListObjects(ResourcePath path, string? labelSelector)
    {
        var selector = LabelSelector.Parse(labelSelector);
        lock (_gate)
        {
            var items = new JsonArray();
            foreach (var (key, obj) in _objects.OrderBy(kv => kv.Key.Namespace, StringComparer.Ordinal).ThenBy(kv => kv.Key.Name, StringComparer.Ordinal))
            {
                if (key.Plural != path.Kind.Plural || (path.Kind.Namespaced && key.Namespace != path.Namespace)) continue;
                if (!selector.Matches(obj)) continue;
                // List items carry no kind/apiVersion of their own; the list does.
                var item = obj.DeepClone().AsObject();
                item.Remove("kind");
                item.Remove("apiVersion");
                items.Add(item);
            }
            return new JsonObject
            {
                ["kind"] = path.Kind.Kind + "List",
                ["apiVersion"] = path.Kind.ApiVersion,
                ["metadata"] = new JsonObject { ["resourceVersion"] = Rv(_resourceVersion) },
                ["items"] = items,
            };
        }
    }

    private async Task<(JsonObject?, JsonObject?)> CreateAsync(HttpContext context, ResourcePath path, Identity user)
    {
        if (await ReadBodyAsync(context) is not { } body)
            return (null, Status.Failure(400, "BadRequest", "the body of the request was in an unknown format"));
        lock (_gate) return CreateLocked(path.Kind, path.Namespace, body, user);
    }

    private (JsonObject?, JsonObject?) CreateLocked(KindInfo kind, string ns, JsonObject body, Identity user)
    {
        var metadata = body["metadata"] as JsonObject ?? new JsonObject();
        body["metadata"] = metadata;
        var name = (string?)metadata["name"];
        if (string.IsNullOrEmpty(name))
        {
            if ((string?)metadata["generateName"] is not { Length: > 0 } prefix)
                return (null, Status.Invalid(kind, "", "metadata.name", "name or generateName is required"));
            name = prefix + RandomSuffix();
        }
        if (kind.Namespaced && body["metadata"]?["namespace"] is { } given && (string?)given != ns)
            return (null, Status.Failure(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"));
        if (_objects.ContainsKey((kind.Plural, ns, name)))
            return (null, Status.AlreadyExists(kind, name));
        if (kind.Plural == "certificatesigningrequests" && CsrProblem(body) is { } problem)
            return (null, Status.Invalid(kind, name, problem.Field, problem.Message));

        body["kind"] = kind.Kind;
        body["apiVersion"] = kind.ApiVersion;
        metadata["name"] = name;
        if (kind.Namespaced) metadata["namespace"] = ns;
        metadata["uid"] = Guid.NewGuid().ToString();
        metadata["creationTimestamp"] = Timestamp(DateTimeOffset.UtcNow);
        metadata.Remove("resourceVersion");
        switch (kind.Plural)
        {
            case "certificatesigningrequests":
                // The API server, not the client, says who asked: spec.username/groups/uid come from authentication.
                var spec = body["spec"]!.AsObject();
                spec["username"] = user.Name;
                spec["groups"] = new JsonArray([.. user.Groups.Select(g => (JsonNode)g!)]);
                spec["uid"] = user.Uid;
                body["status"] = new JsonObject();
                _csrCreated[name] = Stopwatch.GetTimestamp();
                break;
            case "secrets":
                NormalizeSecret(body);
                break;
        }
        Store(kind, ns, name, body, "ADDED");
        return (Stored(kind, body), null);
    }

    private async Task<(JsonObject?, JsonObject?)> UpdateAsync(HttpContext context, ResourcePath path)
    {
        if (await ReadBodyAsync(context) is not { } body)
            return (null, Status.Failure(400, "BadRequest", "the body of the request was in an unknown format"));
        lock (_gate)
        {
            if (_interveneBeforeNextUpdate.TryGetValue(path.Kind.Plural, out var n) && n > 0 &&
                _interveneBeforeNextUpdate.TryUpdate(path.Kind.Plural, n - 1, n) &&
                _objects.TryGetValue(path.Key, out var victim))
            {
                var touched = victim.DeepClone().AsObject();
                var labels = touched["metadata"]!["labels"] as JsonObject ?? new JsonObject();
                labels["fake.k8s.io/intervened"] = "true";
                touched["metadata"]!["labels"] = labels;
                Store(path.Kind, path.Namespace, path.Name!, touched, "MODIFIED");
            }

            if (!_objects.TryGetValue(path.Key, out var current)) return (null, Status.NotFound(path.Kind, path.Name!));
            if ((string?)body["metadata"]?["name"] is { } bodyName && bodyName != path.Name)
                return (null, Status.Failure(400, "BadRequest", $"the name of the object ({bodyName}) does not match the name on the URL ({path.Name})"));
            var sentVersion = (string?)body["metadata"]?["resourceVersion"];
            // An update without resourceVersion is unconditional; with one, it must be the current one.
            if (!string.IsNullOrEmpty(sentVersion) && sentVersion != (string?)current["metadata"]!["resourceVersion"])
                return (null, Status.Conflict(path.Kind, path.Name!));

            JsonObject updated;
            switch (path.Subresource)
            {
                case "approval" when path.Kind.Plural == "certificatesigningrequests":
                    if (ApprovalProblem(current, body) is { } problem)
                        return (null, Status.Invalid(path.Kind, path.Name!, problem.Field, problem.Message));
                    // The approval subresource changes status.conditions and nothing else.
                    updated = current.DeepClone().AsObject();
                    var status = updated["status"] as JsonObject ?? new JsonObject();
                    status["conditions"] = body["status"]?["conditions"]?.DeepClone();
                    updated["status"] = status;
                    _approvalWrites.Enqueue(new ApprovalWrite(path.Name!,
                        [.. ((JsonArray?)body["status"]?["conditions"] ?? []).Select(c => (string)c!["type"]!)], Stopwatch.GetTimestamp()));
                    break;
                case null:
                    updated = body.DeepClone().AsObject();
                    var metadata = updated["metadata"] as JsonObject ?? new JsonObject();
                    updated["metadata"] = metadata;
                    foreach (var field in new[] { "uid", "creationTimestamp", "name", "namespace" })
                        metadata[field] = current["metadata"]![field]?.DeepClone();
                    updated["kind"] = path.Kind.Kind;
                    updated["apiVersion"] = path.Kind.ApiVersion;
                    if (path.Kind.Plural == "certificatesigningrequests")
                    {
                        // spec is immutable and status belongs to subresources.
                        updated["spec"] = current["spec"]!.DeepClone();
                        updated["status"] = current["status"]?.DeepClone();
                    }
                    if (path.Kind.Plural == "secrets") NormalizeSecret(updated);
                    break;
                default:
                    return (null, Status.NotFound(path.Kind, path.Name!));
            }
            Store(path.Kind, path.Namespace, path.Name!, updated, "MODIFIED");
            return (Stored(path.Kind, updated), null);
        }
    }

    private (JsonObject?, JsonObject?) Delete(ResourcePath path)
    {
        lock (_gate)
        {
            if (!_objects.Remove(path.Key, out var obj)) return (null, Status.NotFound(path.Kind, path.Name!));
            var rv = ++_resourceVersion;
            obj["metadata"]!["resourceVersion"] = Rv(rv);
            Publish(new StoredEvent(rv, path.Kind.Plural, path.Namespace, "DELETED", obj.DeepClone().AsObject()));
            return (Status.Success(path.Kind, path.Name!, (string?)obj["metadata"]!["uid"]), null);
        }
    }

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
            var forcedGone = Interlocked.Exchange(ref _goneOnNextWatch, 0) == 1;
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
                backlog = [.. _objects.Where(kv => subscription.Wants(kv.Key.Plural, kv.Key.Namespace, kv.Value))
                    .OrderBy(kv => kv.Key.Name, StringComparer.Ordinal)
                    .Select(kv => new StoredEvent(long.Parse((string)kv.Value["metadata"]!["resourceVersion"]!, CultureInfo.InvariantCulture),
                        kv.Key.Plural, kv.Key.Namespace, "ADDED", kv.Value.DeepClone().AsObject()))];
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
                    while (reader.TryRead(out var e)) await WriteEventAsync(context, e.Type, WithKind(e));
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
        var line = new JsonObject { ["type"] = type, ["object"] = obj }.ToJsonString(Compact) + "\n";
        await context.Response.WriteAsync(line, context.RequestAborted);
        await context.Response.Body.FlushAsync(context.RequestAborted);
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

    private static JsonObject WithKind(StoredEvent e)
    {
        var kind = Kinds.ByPlural[e.Plural];
        var obj = e.Object.DeepClone().AsObject();
        obj["kind"] = kind.Kind;
        obj["apiVersion"] = kind.ApiVersion;
        return obj;
    }

    // ---------------------------------------------------------------- storage

    private void Store(KindInfo kind, string ns, string name, JsonObject obj, string type)
    {
        var rv = ++_resourceVersion;
        obj["metadata"]!["resourceVersion"] = Rv(rv);
        _objects[(kind.Plural, ns, name)] = obj;
        Publish(new StoredEvent(rv, kind.Plural, ns, type, obj.DeepClone().AsObject()));
    }

    private void Publish(StoredEvent e)
    {
        _history.Add(e);
        if (_history.Count > Options.HistoryLimit)
        {
            var drop = _history.Count - Options.HistoryLimit;
            _compactedBefore = _history[drop].ResourceVersion;
            _history.RemoveRange(0, drop);
        }
        foreach (var w in _watches)
            if (w.Wants(e.Plural, e.Namespace, e.Object)) w.Channel.Writer.TryWrite(e);
    }

    private static JsonObject Stored(KindInfo kind, JsonObject obj)
    {
        var copy = obj.DeepClone().AsObject();
        copy["kind"] = kind.Kind;
        copy["apiVersion"] = kind.ApiVersion;
        return copy;
    }

    /// <summary>As the API server does: stringData is merged into data (base64) and never stored.</summary>
    private static void NormalizeSecret(JsonObject secret)
    {
        if (secret["stringData"] is JsonObject stringData)
        {
            var data = secret["data"] as JsonObject ?? new JsonObject();
            foreach (var (key, value) in stringData)
                data[key] = Convert.ToBase64String(Encoding.UTF8.GetBytes((string?)value ?? ""));
            secret["data"] = data;
            secret.Remove("stringData");
        }
        secret["type"] ??= "Opaque";
    }

    private static (string Field, string Message)? CsrProblem(JsonObject csr)
    {
        if (csr["spec"] is not JsonObject spec) return ("spec", "Required value");
        if (spec["request"] is not JsonValue request || (string?)request is not { Length: > 0 } text) return ("spec.request", "Required value");
        try { Convert.FromBase64String(text); }
        catch (FormatException) { return ("spec.request", "Invalid value: not base64"); }
        if ((string?)spec["signerName"] is not { Length: > 0 }) return ("spec.signerName", "Required value");
        if (spec["usages"] is not JsonArray) return ("spec.usages", "Required value");
        return null;
    }

    private static (string Field, string Message)? ApprovalProblem(JsonObject current, JsonObject body)
    {
        var conditions = (body["status"]?["conditions"] as JsonArray ?? []).OfType<JsonObject>().ToList();
        var types = conditions.Select(c => (string?)c["type"]).ToList();
        if (types.Any(t => t is not ("Approved" or "Denied" or "Failed")))
            return ("status.conditions[].type", "Unsupported value: supported values: \"Approved\", \"Denied\", \"Failed\"");
        if (types.Contains("Approved") && types.Contains("Denied"))
            return ("status.conditions", "Invalid value: Approved and Denied conditions are mutually exclusive");
        if (types.Count != types.Distinct().Count())
            return ("status.conditions", "Invalid value: duplicate condition types");
        if (conditions.Any(c => (string?)c["status"] is not ("True" or "False" or "Unknown")))
            return ("status.conditions[].status", "Unsupported value: supported values: \"True\", \"False\", \"Unknown\"");
        var had = (current["status"]?["conditions"] as JsonArray ?? []).OfType<JsonObject>().Select(c => (string?)c["type"]);
        foreach (var kept in new[] { "Approved", "Denied" })
            if (had.Contains(kept) && !types.Contains(kept))
                return ("status.conditions", $"Forbidden: updates may not remove a condition of type \"{kept}\"");
        return null;
    }

    private static string Rv(long rv) => rv.ToString(CultureInfo.InvariantCulture);

    public static string Timestamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    private static string RandomSuffix() => RandomNumberGenerator.GetString("bcdfghjklmnpqrstvwxz2456789", 5);

    public async ValueTask DisposeAsync()
    {
        DropWatches();
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }

    private sealed record StoredEvent(long ResourceVersion, string Plural, string Namespace, string Type, JsonObject Object);

    private sealed class WatchSubscription(string plural, string? ns, LabelSelector selector, HttpContext context)
    {
        public System.Threading.Channels.Channel<StoredEvent> Channel { get; } = System.Threading.Channels.Channel.CreateUnbounded<StoredEvent>();
        public CancellationTokenSource Dropped { get; } = new();
        public bool AbortRequested { get; private set; }
        public JsonObject? Gone { get; set; }

        public bool Wants(string p, string n, JsonObject obj) => p == plural && (ns is null || n == ns) && selector.Matches(obj);

        public void Drop(bool abort)
        {
            AbortRequested = abort;
            if (abort) context.Abort();
            Dropped.Cancel();
        }
    }
}

public sealed record FakeKubernetesOptions
{
    public TimeSpan BookmarkInterval { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxWatchDuration { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Events kept for watches; older resourceVersions get 410 Gone.</summary>
    public int HistoryLimit { get; init; } = 100_000;
}

/// <summary>An authenticated user as the API server sees it.</summary>
public sealed record Identity(string Name, IReadOnlyList<string> Groups)
{
    public static readonly Identity Admin = new("kubernetes-admin", ["system:masters", "system:authenticated"]);
    public string Uid { get; } = Guid.NewGuid().ToString();
}

/// <summary>One request the fake answered (recorded when the answer is complete; a watch when it ends).</summary>
public sealed record RecordedRequest(string Method, string PathAndQuery, string? User, int Status);

/// <param name="Timestamp">When the fake stored it, in <see cref="Stopwatch.GetTimestamp"/> ticks.</param>
public sealed record ApprovalWrite(string CsrName, IReadOnlyList<string> ConditionTypes, long Timestamp);
