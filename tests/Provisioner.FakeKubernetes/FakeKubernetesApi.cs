using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
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
/// CSR <c>/approval</c> and Node <c>/status</c> subresources; authentication by bearer token, including bootstrap
/// tokens checked against their kube-system Secrets as the API server's bootstrap authenticator does; 403 per kind.
/// Not modelled: RBAC rules, admission, namespaces as objects, field selectors, protobuf, client certificates.
/// This class is the HTTP front (routing, the listener and its outages, the request log); the jobs behind it are
/// <see cref="ObjectStore"/>, <see cref="WatchHub"/>, <see cref="Authenticator"/>/<see cref="Authorizer"/> and
/// <see cref="FaultInjector"/>.
/// </remarks>
public sealed class FakeKubernetesApi : IAsyncDisposable
{
    private readonly ObjectStore _store;
    private readonly WatchHub _watches;
    private readonly Authenticator _authenticator;
    private readonly Authorizer _authorizer = new();
    private readonly FaultInjector _faults = new();
    // The listener only: replaced by GoDownAsync/ComeBackAsync; the store outlives it, as etcd outlives an API server.
    private WebApplication? _app;
    private readonly SemaphoreSlim _upDown = new(1, 1);
    private Uri _baseAddress = null!;
    private readonly ConcurrentQueue<RecordedRequest> _requests = new();

    private FakeKubernetesApi(FakeKubernetesOptions options)
    {
        Options = options;
        _store = new ObjectStore(options.HistoryLimit, options.Clock);
        _watches = new WatchHub(_store, options);
        _authenticator = new Authenticator(_store, options.Clock);
    }

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

    // ---------------------------------------------------------------- identities

    /// <summary>Requests carrying <c>Authorization: Bearer <paramref name="token"/></c> are made as this user.</summary>
    public void AddUser(string token, string userName, params string[] groups) => _authenticator.AddUser(token, userName, groups);

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

    // ---------------------------------------------------------------- inspection

    public IReadOnlyList<RecordedRequest> Requests => [.. _requests];

    /// <summary>Every successful write to a CSR's <c>/approval</c> subresource.</summary>
    public IReadOnlyList<ApprovalWrite> ApprovalWrites => _store.ApprovalWrites;

    public int OpenWatches => _watches.OpenWatches;

    public int OpenWatchesOf(string plural) => _watches.OpenWatchesOf(plural);

    /// <summary>Watches of <paramref name="plural"/> that started streaming (not answered 410) since the fake started.</summary>
    public int StartedWatchesOf(string plural) => _watches.StartedWatchesOf(plural);

    /// <summary>When each CSR was stored, in <see cref="Stopwatch.GetTimestamp"/> ticks (for latency measurements).</summary>
    public IReadOnlyDictionary<string, long> CsrCreationTimestamps => _store.CsrCreationTimestamps;

    /// <summary>Watches answered with a 410 Gone ERROR event.</summary>
    public int GoneAnswers => _watches.GoneAnswers;

    public JsonObject? Get(string plural, string? ns, string name) => _store.GetCopy(plural, ns ?? "", name);

    public IReadOnlyList<JsonObject> List(string plural, string? ns = null) => _store.ListCopies(plural, ns);

    public static string Timestamp(DateTimeOffset t) => WireJson.Timestamp(t);

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
            _watches.Drop(abort: true);
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

    // ---------------------------------------------------------------- fault injection

    /// <summary>
    /// Ends every open watch (of <paramref name="plural"/> only, when given) now; <paramref name="abort"/> resets the
    /// connection instead of ending the response. Returns how many were dropped.
    /// </summary>
    public int DropWatches(bool abort = false, string? plural = null) => _watches.Drop(abort, plural);

    /// <summary>Forgets the event history, as etcd compaction does: a watch from any older resourceVersion gets 410 Gone.</summary>
    public void CompactHistory() => _store.CompactHistory();

    /// <summary>
    /// The next watch request (of <paramref name="plural"/> only, when given) is answered with a 410 Gone ERROR
    /// event whatever its resourceVersion.
    /// </summary>
    public void ForceGoneOnNextWatch(string? plural = null) => _faults.ForceGoneOnNextWatch(plural);

    /// <summary>
    /// Before the next update (PUT) of a <paramref name="plural"/> object, another writer changes that object
    /// first, so the update carries a stale resourceVersion and gets a genuine 409 Conflict.
    /// </summary>
    public void InterveneBeforeNextUpdate(string plural) => _faults.InterveneBeforeNextUpdate(plural);

    /// <summary>Interventions on <paramref name="plural"/> (<see cref="InterveneBeforeNextUpdate"/>) no update has met yet.</summary>
    public int PendingInterventions(string plural) => _faults.PendingInterventions(plural);

    /// <summary>While true, every request is answered 503, as an API server that is still starting.</summary>
    public bool Unavailable { get => _faults.Unavailable; set => _faults.Unavailable = value; }

    /// <summary>
    /// Every request on <paramref name="plural"/> is answered 403 Forbidden, as RBAC answers a user without a
    /// binding for it, until <see cref="Permit"/>.
    /// </summary>
    public void Forbid(string plural) => _authorizer.Forbid(plural);

    public void Permit(string plural) => _authorizer.Permit(plural);

    // ---------------------------------------------------------------- HTTP

    private async Task HandleAsync(HttpContext context)
    {
        var user = _authenticator.Authenticate(context.Request.Headers.Authorization.ToString());
        try { await HandleAsAsync(context, user); }
        finally
        {
            _requests.Enqueue(new RecordedRequest(context.Request.Method, context.Request.Path + context.Request.QueryString, user?.Name, context.Response.StatusCode));
        }
    }

    private async Task HandleAsAsync(HttpContext context, Identity? user)
    {
        var request = context.Request;
        if (_faults.Unavailable)
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
        var watch = QueryFlag.IsTrue(request.Query["watch"]);
        if (_authorizer.Refusal(path, request.Method, watch, user) is { } forbidden)
        {
            await WriteAsync(context, 403, forbidden);
            return;
        }

        switch (request.Method)
        {
            case "GET" when path.Name is null && watch:
                await _watches.ServeAsync(context, path, _faults.TakeForcedGone(path.Kind.Plural));
                return;
            case "GET" when path.Name is null:
                await ListAsync(context, path, request.Query["labelSelector"]);
                return;
            case "GET":
                await RespondAsync(context, _store.Get(path.Kind, path.Namespace, path.Name));
                return;
            case "POST" when path.Name is null:
                await RespondAsync(context, await ReadBodyAsync(context) is { } created
                    ? _store.Create(path.Kind, path.Namespace, created, user)
                    : UnknownBodyFormat);
                return;
            case "PUT" when path.Name is not null:
                if (await ReadBodyAsync(context) is not { } updated)
                {
                    await RespondAsync(context, UnknownBodyFormat);
                    return;
                }
                if (_faults.TakeIntervention(path.Kind.Plural)) _store.WriteAsAnotherClient(path.Kind, path.Namespace, path.Name);
                await RespondAsync(context, _store.Update(path, updated));
                return;
            case "DELETE" when path.Name is not null:
                await RespondAsync(context, _store.Delete(path.Kind, path.Namespace, path.Name));
                return;
            default:
                await WriteAsync(context, 405, Status.Failure(405, "MethodNotAllowed", $"the server does not allow this method on the requested resource"));
                return;
        }
    }

    private static Answer UnknownBodyFormat => Answer.Error(Status.Failure(400, "BadRequest", "the body of the request was in an unknown format"));

    private async Task ListAsync(HttpContext context, ResourcePath path, string? labelSelector)
    {
        var (items, resourceVersion) = _store.List(path.Kind, path.Namespace, LabelSelector.Parse(labelSelector));
        context.Response.StatusCode = 200;
        context.Response.ContentType = "application/json";
        using (var writer = new Utf8JsonWriter(context.Response.BodyWriter))
        {
            writer.WriteStartObject();
            writer.WriteString("kind", path.Kind.Kind + "List");
            writer.WriteString("apiVersion", path.Kind.ApiVersion);
            writer.WriteStartObject("metadata");
            writer.WriteString("resourceVersion", WireJson.Rv(resourceVersion));
            writer.WriteEndObject();
            writer.WriteStartArray("items");
            foreach (var item in items) writer.WriteRawValue(item, skipInputValidation: true);
            writer.WriteEndArray();
            writer.WriteEndObject();
        }
        await context.Response.BodyWriter.FlushAsync(context.RequestAborted);
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

    public async ValueTask DisposeAsync()
    {
        _watches.Drop();
        if (_app is { } app)
        {
            _app = null;
            await app.StopAsync(CancellationToken.None);
            await app.DisposeAsync();
        }
    }
}

public sealed record FakeKubernetesOptions
{
    public TimeSpan BookmarkInterval { get; init; } = TimeSpan.FromSeconds(1);
    public TimeSpan MaxWatchDuration { get; init; } = TimeSpan.FromMinutes(5);
    /// <summary>Events kept for watches; older resourceVersions get 410 Gone.</summary>
    public int HistoryLimit { get; init; } = 100_000;
    /// <summary>What the fake reads the time from: creation timestamps and bootstrap-token expiry.</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;
}

/// <summary>One request the fake answered (recorded when the answer is complete; a watch when it ends).</summary>
public sealed record RecordedRequest(string Method, string PathAndQuery, string? User, int Status);

/// <param name="Timestamp">When the fake stored it, in <see cref="Stopwatch.GetTimestamp"/> ticks.</param>
public sealed record ApprovalWrite(string CsrName, IReadOnlyList<string> ConditionTypes, long Timestamp);
