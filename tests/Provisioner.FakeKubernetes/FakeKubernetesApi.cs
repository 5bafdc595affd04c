using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Buffers;
using System.Net;
using System.Security.Cryptography;
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
/// This file is the HTTP front and the verbs; the store, watches, authentication and injected faults are in
/// FakeKubernetesApi.Store.cs, .Watch.cs, .Auth.cs and .Faults.cs.
/// </remarks>
public sealed partial class FakeKubernetesApi : IAsyncDisposable
{
    // The HTTP front only: replaced by GoDownAsync/ComeBackAsync; the store (FakeKubernetesApi.Store.cs) outlives it.
    private WebApplication? _app;
    private readonly SemaphoreSlim _upDown = new(1, 1);
    private Uri _baseAddress = null!;
    private readonly object _gate = new();
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();
    private readonly ConcurrentQueue<ApprovalWrite> _approvalWrites = new();
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

    /// <summary>A verb's answer: a stored object's cached JSON, or a body built for this answer (Status).</summary>
    private readonly record struct Answer(int Status, byte[]? Json = null, JsonObject? Body = null)
    {
        public static Answer Error(JsonObject status) => new((int)status["code"]!, Body: status);
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
