using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Text.Json.Nodes;

namespace Provisioner.FakeKubernetes;

/// <summary>
/// The API server's storage as its clients see it: objects per kind in (namespace, name) order, one cluster-wide
/// resourceVersion counter, create (with generateName), get, list, update with optimistic concurrency (409 Conflict
/// on a stale resourceVersion), delete, and the event history watches replay, compacted as etcd compacts it.
/// </summary>
/// <remarks>
/// One lock guards everything. A stored object is never changed once stored: a write stores a new object, so the
/// JSON serialized at store time serves every GET, write answer and watch event of that version, as the API
/// server's watch cache does. <see cref="Changed"/> is raised under the lock, in resourceVersion order.
/// </remarks>
internal sealed class ObjectStore(int historyLimit, TimeProvider clock)
{
    private readonly object _gate = new();
    // One ordered index per kind, so a list or a watch touches only its own kind and comes out in
    // (namespace, name) order without sorting everything under the lock.
    private readonly Dictionary<string, SortedDictionary<(string Namespace, string Name), StoredObject>> _objects =
        Kinds.ByPlural.Keys.ToDictionary(p => p, _ => new SortedDictionary<(string Namespace, string Name), StoredObject>(KeyOrder.Instance), StringComparer.Ordinal);
    private readonly List<StoredEvent> _history = [];
    private long _resourceVersion = 100;
    private long _compactedBefore;
    private readonly ConcurrentQueue<ApprovalWrite> _approvalWrites = new();
    private readonly ConcurrentDictionary<string, long> _csrCreated = new(StringComparer.Ordinal);

    /// <summary>Every change, raised under the store's lock in resourceVersion order (the watch hub fans it out).</summary>
    public event Action<StoredEvent>? Changed;

    public long ResourceVersion { get { lock (_gate) return _resourceVersion; } }

    /// <summary>Every successful write to a CSR's <c>/approval</c> subresource.</summary>
    public IReadOnlyList<ApprovalWrite> ApprovalWrites => [.. _approvalWrites];

    /// <summary>When each CSR was stored, in <see cref="Stopwatch.GetTimestamp"/> ticks.</summary>
    public IReadOnlyDictionary<string, long> CsrCreationTimestamps => _csrCreated;

    // ---------------------------------------------------------------- reads

    public Answer Get(KindInfo kind, string ns, string name)
    {
        lock (_gate)
            return Find(kind.Plural, ns, name) is { } stored ? new Answer(200, stored.Json) : Answer.Error(Status.NotFound(kind, name));
    }

    /// <summary>A copy of the stored object, for tests to inspect.</summary>
    public JsonObject? GetCopy(string plural, string ns, string name)
    {
        lock (_gate) return Find(plural, ns, name)?.Object.DeepClone().AsObject();
    }

    /// <summary>Copies of the stored objects of <paramref name="plural"/> (in <paramref name="ns"/> only, when given), by name.</summary>
    public IReadOnlyList<JsonObject> ListCopies(string plural, string? ns)
    {
        lock (_gate)
        {
            if (!_objects.TryGetValue(plural, out var objects)) return [];
            return [.. objects.Where(kv => ns is null || kv.Key.Namespace == ns)
                .OrderBy(kv => kv.Key.Name, StringComparer.Ordinal).Select(kv => kv.Value.Object.DeepClone().AsObject())];
        }
    }

    /// <summary>Runs <paramref name="read"/> on the stored object under the lock (stored objects are shared); default when there is none.</summary>
    public T? Read<T>(string plural, string ns, string name, Func<JsonObject, T?> read)
    {
        lock (_gate) return Find(plural, ns, name) is { } stored ? read(stored.Object) : default;
    }

    /// <summary>The list items (serialized, in (namespace, name) order) and the resourceVersion the list is as of.</summary>
    public (IReadOnlyList<byte[]> Items, long ResourceVersion) List(KindInfo kind, string ns, LabelSelector selector)
    {
        var items = new List<byte[]>();
        lock (_gate)
        {
            foreach (var (key, stored) in _objects[kind.Plural])
            {
                if (kind.Namespaced && key.Namespace != ns) continue;
                if (!selector.Matches(stored.Object)) continue;
                items.Add(stored.ItemJson);
            }
            return (items, _resourceVersion);
        }
    }

    // ---------------------------------------------------------------- watch start

    /// <summary>
    /// Where a watch of <paramref name="plural"/> starts. Decided under the lock together with
    /// <paramref name="attach"/>, which receives the backlog and registers the watch before any later change is
    /// published, so no change falls between the backlog and the live events.
    /// </summary>
    /// <param name="requested">The watch's resourceVersion: none or "0" starts from the current objects (synthetic
    /// ADDED events); one older than the history is answered 410 Gone.</param>
    /// <param name="wants">Which events the watch selects (namespace, label selector).</param>
    /// <returns>The 410 Gone Status when the watch cannot start (then <paramref name="attach"/> is not called), else null.</returns>
    public JsonObject? StartWatch(string plural, string? requested, bool forceGone, Func<string, string, JsonObject, bool> wants, Action<IReadOnlyList<StoredEvent>> attach)
    {
        lock (_gate)
        {
            long from = 0;
            var fromCurrent = string.IsNullOrEmpty(requested) || requested == "0";
            if (forceGone || (!fromCurrent && (!long.TryParse(requested, CultureInfo.InvariantCulture, out from) || from + 1 < _compactedBefore)))
                return Status.Gone(requested ?? "", _compactedBefore);

            List<StoredEvent> backlog = fromCurrent
                ? [.. _objects[plural].Where(kv => wants(plural, kv.Key.Namespace, kv.Value.Object))
                    .OrderBy(kv => kv.Key.Name, StringComparer.Ordinal)
                    .Select(kv => new StoredEvent(kv.Value.ResourceVersion, plural, kv.Key.Namespace, "ADDED", kv.Value.Object,
                        WireJson.EventLine("ADDED", kv.Value.Json)))]
                : [.. _history.Where(e => e.ResourceVersion > from && wants(e.Plural, e.Namespace, e.Object))];
            attach(backlog);
            return null;
        }
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

    // ---------------------------------------------------------------- writes

    public Answer Create(KindInfo kind, string ns, JsonObject body, Identity user)
    {
        lock (_gate)
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
            if (kind.Plural == Kinds.Csr.Plural && KindRules.CsrProblem(body) is { } problem)
                return Answer.Error(Status.Invalid(kind, name, problem.Field, problem.Message));

            body["kind"] = kind.Kind;
            body["apiVersion"] = kind.ApiVersion;
            metadata["name"] = name;
            if (kind.Namespaced) metadata["namespace"] = ns;
            metadata["uid"] = Guid.NewGuid().ToString();
            metadata["creationTimestamp"] = WireJson.Timestamp(clock.GetUtcNow());
            metadata.Remove("resourceVersion");
            if (kind.Plural == Kinds.Csr.Plural)
            {
                // The API server, not the client, says who asked: spec.username/groups/uid come from authentication.
                var spec = body["spec"]!.AsObject();
                spec["username"] = user.Name;
                spec["groups"] = new JsonArray([.. user.Groups.Select(g => (JsonNode)g!)]);
                spec["uid"] = user.Uid;
                body["status"] = new JsonObject();
                _csrCreated[name] = Stopwatch.GetTimestamp();
            }
            else if (kind.Plural == Kinds.Secret.Plural)
            {
                KindRules.NormalizeSecret(body);
            }
            return new Answer(201, Store(kind, ns, name, body, "ADDED").Json);
        }
    }

    /// <summary>
    /// An update (PUT) of the object or of its <c>approval</c> (CSRs) or <c>status</c> (Nodes) subresource. With a
    /// resourceVersion it must be the current one, else 409 Conflict; without one it is unconditional.
    /// </summary>
    public Answer Update(ResourcePath path, JsonObject body)
    {
        var (kind, ns, name) = (path.Kind, path.Namespace, path.Name!);
        lock (_gate)
        {
            if (Find(kind.Plural, ns, name)?.Object is not { } current) return Answer.Error(Status.NotFound(kind, name));
            if ((string?)body["metadata"]?["name"] is { } bodyName && bodyName != name)
                return Answer.Error(Status.Failure(400, "BadRequest", $"the name of the object ({bodyName}) does not match the name on the URL ({name})"));
            var sentVersion = (string?)body["metadata"]?["resourceVersion"];
            if (!string.IsNullOrEmpty(sentVersion) && sentVersion != (string?)current["metadata"]!["resourceVersion"])
                return Answer.Error(Status.Conflict(kind, name));

            JsonObject updated;
            switch (path.Subresource)
            {
                case "approval" when kind.Plural == Kinds.Csr.Plural:
                    if (KindRules.ApprovalProblem(current, body) is { } problem)
                        return Answer.Error(Status.Invalid(kind, name, problem.Field, problem.Message));
                    // The approval subresource changes status.conditions and nothing else; stored objects are
                    // never changed in place (watch history and cached JSON share them), hence the copy.
                    updated = current.DeepClone().AsObject();
                    var status = updated["status"] as JsonObject ?? new JsonObject();
                    status["conditions"] = body["status"]?["conditions"]?.DeepClone();
                    updated["status"] = status;
                    _approvalWrites.Enqueue(new ApprovalWrite(name,
                        [.. ((JsonArray?)body["status"]?["conditions"] ?? []).Select(c => (string)c!["type"]!)], Stopwatch.GetTimestamp()));
                    break;
                case "status" when kind.Plural == Kinds.Node.Plural:
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
                    updated["kind"] = kind.Kind;
                    updated["apiVersion"] = kind.ApiVersion;
                    if (kind.Plural == Kinds.Csr.Plural)
                    {
                        // spec is immutable and status belongs to subresources.
                        updated["spec"] = current["spec"]!.DeepClone();
                        updated["status"] = current["status"]?.DeepClone();
                    }
                    // The API server's node strategy keeps status on an update of the main resource.
                    if (kind.Plural == Kinds.Node.Plural) updated["status"] = current["status"]?.DeepClone();
                    if (kind.Plural == Kinds.Secret.Plural) KindRules.NormalizeSecret(updated);
                    break;
                default:
                    return Answer.Error(Status.NotFound(kind, name));
            }
            return new Answer(200, Store(kind, ns, name, updated, "MODIFIED").Json);
        }
    }

    /// <summary>
    /// Another writer changes the object (a label, so nothing the tests read), giving it a new resourceVersion: a
    /// client holding the old one gets a genuine 409 Conflict on its next update. Nothing when there is no such object.
    /// </summary>
    public void WriteAsAnotherClient(KindInfo kind, string ns, string name)
    {
        lock (_gate)
        {
            if (Find(kind.Plural, ns, name) is not { } victim) return;
            var touched = victim.Object.DeepClone().AsObject();
            var labels = touched["metadata"]!["labels"] as JsonObject ?? new JsonObject();
            labels["fake.k8s.io/intervened"] = "true";
            touched["metadata"]!["labels"] = labels;
            Store(kind, ns, name, touched, "MODIFIED");
        }
    }

    public Answer Delete(KindInfo kind, string ns, string name)
    {
        lock (_gate)
        {
            if (!_objects[kind.Plural].Remove((ns, name), out var stored)) return Answer.Error(Status.NotFound(kind, name));
            var rv = ++_resourceVersion;
            // The deleted object as of its deletion; the stored one stays as it was (history shares it).
            var obj = stored.Object.DeepClone().AsObject();
            obj["metadata"]!["resourceVersion"] = WireJson.Rv(rv);
            Publish(new StoredEvent(rv, kind.Plural, ns, "DELETED", obj, WireJson.EventLine("DELETED", WireJson.Serialize(obj))));
            return new Answer(200, Body: Status.Success(kind, name, (string?)obj["metadata"]!["uid"]));
        }
    }

    // ---------------------------------------------------------------- storage

    /// <summary>Stores <paramref name="obj"/> (which carries its kind and apiVersion) as the new version and publishes it. Under the lock.</summary>
    private StoredObject Store(KindInfo kind, string ns, string name, JsonObject obj, string type)
    {
        var rv = ++_resourceVersion;
        obj["metadata"]!["resourceVersion"] = WireJson.Rv(rv);
        var stored = new StoredObject(obj, rv);
        _objects[kind.Plural][(ns, name)] = stored;
        Publish(new StoredEvent(rv, kind.Plural, ns, type, obj, WireJson.EventLine(type, stored.Json)));
        return stored;
    }

    private void Publish(StoredEvent e)
    {
        _history.Add(e);
        if (_history.Count > historyLimit)
        {
            var drop = _history.Count - historyLimit;
            _compactedBefore = _history[drop].ResourceVersion;
            _history.RemoveRange(0, drop);
        }
        Changed?.Invoke(e);
    }

    private StoredObject? Find(string plural, string ns, string name) =>
        _objects.TryGetValue(plural, out var objects) ? objects.GetValueOrDefault((ns, name)) : null;

    private static string RandomSuffix() => RandomNumberGenerator.GetString("bcdfghjklmnpqrstvwxz2456789", 5);
}
