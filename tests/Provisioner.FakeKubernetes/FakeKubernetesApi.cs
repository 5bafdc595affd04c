using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Buffers;
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
    // The HTTP front only: replaced by GoDownAsync/ComeBackAsync; the store below outlives it.
    private WebApplication? _app;
    private readonly SemaphoreSlim _upDown = new(1, 1);
    private Uri _baseAddress = null!;
    private readonly object _gate = new();
    // One ordered index per kind, so a list or a watch touches only its own kind and comes out in
    // (namespace, name) order without sorting everything under the lock.
    private readonly Dictionary<string, SortedDictionary<(string Namespace, string Name), StoredObject>> _objects =
        Kinds.ByPlural.Keys.ToDictionary(p => p, _ => new SortedDictionary<(string Namespace, string Name), StoredObject>(KeyOrder.Instance), StringComparer.Ordinal);
    private readonly List<StoredEvent> _history = [];
    private readonly List<WatchSubscription> _watches = [];
    private readonly ConcurrentDictionary<string, Identity> _users = new(StringComparer.Ordinal);
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentQueue<ApprovalWrite> _approvalWrites = new();
    private long _resourceVersion = 100;
    private long _compactedBefore;
    private const string AnyKind = "*";
    private readonly ConcurrentDictionary<string, int> _goneOnNextWatch = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _interveneBeforeNextUpdate = new(StringComparer.Ordinal);
    private volatile bool _unavailable;
    private readonly ConcurrentDictionary<string, byte> _forbidden = new(StringComparer.Ordinal);
    private int _goneAnswers;
    private readonly ConcurrentDictionary<string, long> _csrCreated = new(StringComparer.Ordinal);

    private FakeKubernetesApi(FakeKubernetesOptions options) => Options = options;

    public FakeKubernetesOptions Options { get; }

    /// <summary>Where the fake listens; the same while it is down and after it comes back.</summary>
    public Uri BaseAddress => _baseAddress;

    /// <summary>False between <see cref="GoDownAsync"/> and <see cref="ComeBackAsync"/>.</summary>
    public bool IsUp => _app is not null;

    /// <summary>Starts the fake on a free loopback port.</summary>
    public static async Task<FakeKubernetesApi> StartAsync(FakeKubernetesOptions? options = null, CancellationToken cancellationToken = default)
    {
        var fake = new FakeKubernetesApi(options ?? new FakeKubernetesOptions());
        fake._app = await fake.ListenAsync(0, cancellationToken);
        fake._baseAddress = new(fake._app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
        return fake;
    }

    private async Task<WebApplication> ListenAsync(int port, CancellationToken cancellationToken)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, port));
        var app = builder.Build();
        app.Map("/{**path}", HandleAsync);
        await app.StartAsync(cancellationToken);
        return app;
    }

    // ---------------------------------------------------------------- outages

    /// <summary>
    /// The API server process dies: every open connection is reset (watches included) and the port is closed,
    /// so new connections are refused (ECONNREFUSED) until <see cref="ComeBackAsync"/>. Objects, users and the
    /// resourceVersion counter are kept, as etcd keeps them across an API server restart.
    /// </summary>
    public async Task GoDownAsync()
    {
        await _upDown.WaitAsync();
        try
        {
            if (_app is not { } app) return;
            _app = null;
            DropWatches(abort: true);
            // A cancelled token: Kestrel aborts every connection at once instead of draining them gracefully.
            try { await app.StopAsync(new CancellationToken(canceled: true)); }
            catch (OperationCanceledException) { }
            await app.DisposeAsync();
        }
        finally { _upDown.Release(); }
    }

    /// <summary>The API server is back on the same address, with the same objects.</summary>
    public async Task ComeBackAsync(CancellationToken cancellationToken = default)
    {
        await _upDown.WaitAsync(cancellationToken);
        try
        {
            if (_app is not null) return;
            _app = await ListenAsync(_baseAddress.Port, cancellationToken);
        }
        finally { _upDown.Release(); }
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

    /// <summary>
    /// Ends every open watch (of <paramref name="plural"/> only, when given) now; <paramref name="abort"/> resets the
    /// connection instead of ending the response. Returns how many were dropped.
    /// </summary>
    public int DropWatches(bool abort = false, string? plural = null)
    {
        WatchSubscription[] open;
        lock (_gate) open = [.. _watches.Where(w => plural is null || w.Plural == plural)];
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

    /// <summary>
    /// The next watch request (of <paramref name="plural"/> only, when given) is answered with a 410 Gone ERROR
    /// event whatever its resourceVersion.
    /// </summary>
    public void ForceGoneOnNextWatch(string? plural = null) => _goneOnNextWatch[plural ?? AnyKind] = 1;

    /// <summary>
    /// Before the next update (PUT) of a <paramref name="plural"/> object, another writer changes that object
    /// first, so the update carries a stale resourceVersion and gets a genuine 409 Conflict.
    /// </summary>
    public void InterveneBeforeNextUpdate(string plural) => _interveneBeforeNextUpdate.AddOrUpdate(plural, 1, (_, n) => n + 1);

    /// <summary>While true, every request is answered 503, as an API server that is still starting.</summary>
    public bool Unavailable { get => _unavailable; set => _unavailable = value; }

    /// <summary>
    /// Every request on <paramref name="plural"/> is answered 403 Forbidden, as RBAC answers a user without a
    /// binding for it, until <see cref="Permit"/>.
    /// </summary>
    public void Forbid(string plural) => _forbidden[plural] = 0;

    public void Permit(string plural) => _forbidden.TryRemove(plural, out _);

    // ---------------------------------------------------------------- inspection

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary>Every successful write to a CSR's <c>/approval</c> subresource.</summary>
    public IReadOnlyList<ApprovalWrite> ApprovalWrites => [.. _approvalWrites];

    public int OpenWatches { get { lock (_gate) return _watches.Count; } }

    public int OpenWatchesOf(string plural) { lock (_gate) return _watches.Count(w => w.Plural == plural); }

    /// <summary>When each CSR was stored, in <see cref="Stopwatch.GetTimestamp"/> ticks (for latency measurements).</summary>
    public IReadOnlyDictionary<string, long> CsrCreationTimestamps => _csrCreated;

    /// <summary>Watches answered with a 410 Gone ERROR event.</summary>
    public int GoneAnswers => Volatile.Read(ref _goneAnswers);

    public JsonObject? Get(string plural, string? ns, string name)
    {
        lock (_gate) return Find(plural, ns ?? "", name)?.Object.DeepClone().AsObject();
    }

    public IReadOnlyList<JsonObject> List(string plural, string? ns = null)
    {
        lock (_gate)
        {
            if (!_objects.TryGetValue(plural, out var objects)) return [];
            return [.. objects.Where(kv => ns is null || kv.Key.Namespace == ns)
                .OrderBy(kv => kv.Key.Name, StringComparer.Ordinal).Select(kv => kv.Value.Object.DeepClone().AsObject())];
        }
    }

    private StoredObject? Find(string plural, string ns, string name) =>
        _objects.TryGetValue(plural, out var objects) ? objects.GetValueOrDefault((ns, name)) : null;

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

        if (_forbidden.ContainsKey(path.Kind.Plural))
        {
            await WriteAsync(context, 403, Status.Forbidden(path, Verb(request.Method, path, IsTrue(request.Query["watch"])), user.Name));
            return;
        }

        switch (request.Method)
        {
            case "GET" when path.Name is null && IsTrue(request.Query["watch"]):
                await WatchAsync(context, path);
                return;
            case "GET" when path.Name is null:
                await ListAsync(context, path, request.Query["labelSelector"]);
                return;
            case "GET":
                await RespondAsync(context, GetOne(path));
                return;
            case "POST" when path.Name is null:
                await RespondAsync(context, await CreateAsync(context, path, user));
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

    /// <summary>The RBAC verb of a request, as authorization names it.</summary>
    private static string Verb(string method, ResourcePath path, bool watch) => method switch
    {
        "GET" when path.Name is null => watch ? "watch" : "list",
        "GET" => "get",
        "POST" => "create",
        "PUT" => "update",
        "DELETE" => "delete",
        _ => method.ToLowerInvariant(),
    };

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
        string[] extra;
        // Read under the lock: stored JsonObjects are shared and only ever touched there (a few small decodes).
        lock (_gate)
        {
            var secret = Find("secrets", "kube-system", "bootstrap-token-" + parts[0])?.Object;
            if (secret is null || (string?)secret["type"] != "bootstrap.kubernetes.io/token") return null;
            string? Data(string key) => secret["data"]?[key] is { } v ? Encoding.UTF8.GetString(Convert.FromBase64String((string)v!)) : null;
            if (Data("token-id") != parts[0] || Data("token-secret") != parts[1] || Data("usage-bootstrap-authentication") != "true") return null;
            if (Data("expiration") is { } expiration && DateTimeOffset.Parse(expiration, CultureInfo.InvariantCulture) <= DateTimeOffset.UtcNow) return null;
            extra = Data("auth-extra-groups")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        }
        return new Identity("system:bootstrap:" + parts[0], ["system:bootstrappers", .. extra, "system:authenticated"]);
    }

    private static Task RespondAsync(HttpContext context, Answer answer) =>
        answer.Json is { } json ? WriteAsync(context, answer.Status, json) : WriteAsync(context, answer.Status, answer.Body!);

    private static async Task WriteAsync(HttpContext context, int status, JsonObject body)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        using (var writer = new Utf8JsonWriter(context.Response.BodyWriter)) body.WriteTo(writer);
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    /// <summary>Writes JSON serialized earlier (a stored object's), as UTF-8 straight onto the response.</summary>
    private static async Task WriteAsync(HttpContext context, int status, byte[] json)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "application/json";
        context.Response.BodyWriter.Write(json);
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private static async Task<JsonObject?> ReadBodyAsync(HttpContext context)
    {
        try { return (await JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted)) as JsonObject; }
        catch (JsonException) { return null; }
    }

    // ---------------------------------------------------------------- verbs

    private Answer GetOne(ResourcePath path)
    {
        lock (_gate)
        {
            if (Find(path.Kind.Plural, path.Namespace, path.Name!) is not { } stored) return Answer.Error(Status.NotFound(path.Kind, path.Name!));
            return new Answer(200, stored.Json);
        }
    }

    private async Task ListAsync(HttpContext context, ResourcePath path, string? labelSelector)
    {
        var selector = LabelSelector.Parse(labelSelector);
        var items = new List<byte[]>();
        long resourceVersion;
        lock (_gate)
        {
            // Already in (namespace, name) order.
            foreach (var (key, stored) in _objects[path.Kind.Plural])
            {
                if (path.Kind.Namespaced && key.Namespace != path.Namespace) continue;
                if (!selector.Matches(stored.Object)) continue;
                items.Add(stored.ItemJson);
            }
            resourceVersion = _resourceVersion;
        }

        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        using (var writer = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            writer.WriteStartObject();
            writer.WriteString("kind", path.Kind.Kind + "List");
            writer.WriteString("apiVersion", path.Kind.ApiVersion);
            writer.WriteStartObject("metadata");
            writer.WriteString("resourceVersion", Rv(resourceVersion));
            writer.WriteEndObject();
            writer.WriteStartArray("items");
            foreach (var item in items) writer.WriteRawValue(item, skipInputValidation: true);
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
    }

    private async Task<Answer> CreateAsync(HttpContext context, ResourcePath path, Identity user)
    {
        if (await ReadBodyAsync(context) is not { } body)
            return Answer.Error(Status.Failure(400, "BadRequest", "the body of the request was in an unknown format"));
        lock (_gate) return CreateLocked(path.Kind, path.Namespace, body, user);
    }

    private Answer CreateLocked(KindInfo kind, string ns, JsonObject body, Identity user)
    {
        var metadata = body["metadata"] as JsonObject ?? new JsonObject();
        body["metadata"] = metadata;
        var name = (string?)metadata["name"];
        if (string.IsNullOrEmpty(name))
        {
            if ((string?)metadata["generateName"] is not { Length: > 0 } prefix)
                return Answer.Error(Status.Invalid(kind, "", "metadata.name", "name or generateName is required"));
            // As the API server does (RetryGenerateName): a generated name that is taken is generated again,
            // never answered with AlreadyExists — the client did not choose it.
            do name = prefix + RandomSuffix();
            while (_objects[kind.Plural].ContainsKey((ns, name)));
        }
        if (kind.Namespaced && body["metadata"]?["namespace"] is { } given && (string?)given != ns)
            return Answer.Error(Status.Failure(400, "BadRequest", "the namespace of the provided object does not match the namespace sent on the request"));
        if (_objects[kind.Plural].ContainsKey((ns, name)))
            return Answer.Error(Status.AlreadyExists(kind, name));
        if (kind.Plural == "certificatesigningrequests" && CsrProblem(body) is { } problem)
            return Answer.Error(Status.Invalid(kind, name, problem.Field, problem.Message));

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
        return new Answer(201, Store(kind, ns, name, body, "ADDED").Json);
    }

    private async Task<Answer> UpdateAsync(HttpContext context, ResourcePath path)
    {
        if (await ReadBodyAsync(context) is not { } body)
            return Answer.Error(Status.Failure(400, "BadRequest", "the body of the request was in an unknown format"));
        lock (_gate)
        {
            if (_interveneBeforeNextUpdate.TryGetValue(path.Kind.Plural, out var n) && n > 0 &&
                _interveneBeforeNextUpdate.TryUpdate(path.Kind.Plural, n - 1, n) &&
                Find(path.Kind.Plural, path.Namespace, path.Name!) is { } victim)
            {
                var touched = victim.Object.DeepClone().AsObject();
                var labels = touched["metadata"]!["labels"] as JsonObject ?? new JsonObject();
                labels["fake.k8s.io/intervened"] = "true";
                touched["metadata"]!["labels"] = labels;
                Store(path.Kind, path.Namespace, path.Name!, touched, "MODIFIED");
            }

            if (Find(path.Kind.Plural, path.Namespace, path.Name!)?.Object is not { } current) return Answer.Error(Status.NotFound(path.Kind, path.Name!));
            if ((string?)body["metadata"]?["name"] is { } bodyName && bodyName != path.Name)
                return Answer.Error(Status.Failure(400, "BadRequest", $"the name of the object ({bodyName}) does not match the name on the URL ({path.Name})"));
            var sentVersion = (string?)body["metadata"]?["resourceVersion"];
            // An update without resourceVersion is unconditional; with one, it must be the current one.
            if (!string.IsNullOrEmpty(sentVersion) && sentVersion != (string?)current["metadata"]!["resourceVersion"])
                return Answer.Error(Status.Conflict(path.Kind, path.Name!));

            JsonObject updated;
            switch (path.Subresource)
            {
                case "approval" when path.Kind.Plural == "certificatesigningrequests":
                    if (ApprovalProblem(current, body) is { } problem)
                        return Answer.Error(Status.Invalid(path.Kind, path.Name!, problem.Field, problem.Message));
                    // The approval subresource changes status.conditions and nothing else; stored objects are
                    // never changed in place (watch history and cached JSON share them), hence the copy.
                    updated = current.DeepClone().AsObject();
                    var status = updated["status"] as JsonObject ?? new JsonObject();
                    status["conditions"] = body["status"]?["conditions"]?.DeepClone();
                    updated["status"] = status;
                    _approvalWrites.Enqueue(new ApprovalWrite(path.Name!,
                        [.. ((JsonArray?)body["status"]?["conditions"] ?? []).Select(c => (string)c!["type"]!)], Stopwatch.GetTimestamp()));
                    break;
                case "status" when path.Kind.Plural == "nodes":
                    // As the kubelet reports addresses and conditions: the status subresource changes status alone.
                    updated = current.DeepClone().AsObject();
                    updated["status"] = body["status"]?.DeepClone() ?? new JsonObject();
                    break;
                case null:
                    updated = body; // parsed for this request alone
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
                    // The API server's node strategy keeps status on an update of the main resource.
                    if (path.Kind.Plural == "nodes") updated["status"] = current["status"]?.DeepClone();
                    if (path.Kind.Plural == "secrets") NormalizeSecret(updated);
                    break;
                default:
                    return Answer.Error(Status.NotFound(path.Kind, path.Name!));
            }
            return new Answer(200, Store(path.Kind, path.Namespace, path.Name!, updated, "MODIFIED").Json);
        }
    }

    private Answer Delete(ResourcePath path)
    {
        lock (_gate)
        {
            if (!_objects[path.Kind.Plural].Remove((path.Namespace, path.Name!), out var stored)) return Answer.Error(Status.NotFound(path.Kind, path.Name!));
            var rv = ++_resourceVersion;
            // The deleted object as of its deletion; the stored one stays as it was (history shares it).
            var obj = stored.Object.DeepClone().AsObject();
            obj["metadata"]!["resourceVersion"] = Rv(rv);
            Publish(new StoredEvent(rv, path.Kind.Plural, path.Namespace, "DELETED", obj, EventLine("DELETED", Serialize(obj))));
            return new Answer(200, Body: Status.Success(path.Kind, path.Name!, (string?)obj["metadata"]!["uid"]));
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

    // ---------------------------------------------------------------- storage

    /// <summary>
    /// Stores <paramref name="obj"/> (which carries its kind and apiVersion) as the new version and hands it to
    /// the watches. From here on it is never changed: a later write stores a new object, so the JSON serialized
    /// here serves every GET, write answer and watch event of this version, as the API server's watch cache does.
    /// </summary>
    private StoredObject Store(KindInfo kind, string ns, string name, JsonObject obj, string type)
    {
        var rv = ++_resourceVersion;
        obj["metadata"]!["resourceVersion"] = Rv(rv);
        var stored = new StoredObject(obj, rv);
        _objects[kind.Plural][(ns, name)] = stored;
        Publish(new StoredEvent(rv, kind.Plural, ns, type, obj, EventLine(type, stored.Json)));
        return stored;
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
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }

    /// <param name="Object">Shared with the store; read only under the lock (label selectors).</param>
    /// <param name="Line">The whole watch event line, serialized once for every watcher.</param>
    private sealed record StoredEvent(long ResourceVersion, string Plural, string Namespace, string Type, JsonObject Object, byte[] Line);

    /// <summary>One stored version of an object, never mutated, with its JSON serialized once.</summary>
    private sealed class StoredObject(JsonObject obj, long resourceVersion)
    {
        private byte[]? _itemJson;

        public JsonObject Object => obj;
        public long ResourceVersion => resourceVersion;

        /// <summary>The object as GET and write answers and watch events carry it, kind and apiVersion included.</summary>
        public byte[] Json { get; } = Serialize(obj);

        /// <summary>The object as a list item: without kind/apiVersion, which the list carries. Built under the lock.</summary>
        public byte[] ItemJson => _itemJson ??= SerializeItem(obj);

        private static byte[] SerializeItem(JsonObject obj)
        {
            var buffer = new ArrayBufferWriter<byte>(256);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                foreach (var (name, value) in obj)
                {
                    if (name is "kind" or "apiVersion") continue;
                    writer.WritePropertyName(name);
                    if (value is null) writer.WriteNullValue();
                    else value.WriteTo(writer);
                }
                writer.WriteEndObject();
            }
            return buffer.WrittenSpan.ToArray();
        }
    }

    /// <summary>Ordinal (namespace, name) order, the order lists come out in.</summary>
    private sealed class KeyOrder : IComparer<(string Namespace, string Name)>
    {
        public static readonly KeyOrder Instance = new();

        public int Compare((string Namespace, string Name) x, (string Namespace, string Name) y)
        {
            var byNamespace = string.CompareOrdinal(x.Namespace, y.Namespace);
            return byNamespace != 0 ? byNamespace : string.CompareOrdinal(x.Name, y.Name);
        }
    }

    /// <summary>A verb's answer: a stored object's cached JSON, or a body built for this answer (Status).</summary>
    private readonly record struct Answer(int Status, byte[]? Json = null, JsonObject? Body = null)
    {
        public static Answer Error(JsonObject status) => new((int)status["code"]!, Body: status);
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
