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
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Provisioner.FakeKubernetes;

/// <summary>The store: objects per kind in (namespace, name) order, the resourceVersion counter, and the event history watches replay.</summary>
public sealed partial class FakeKubernetesApi
{
    // One ordered index per kind, so a list or a watch touches only its own kind and comes out in
    // (namespace, name) order without sorting everything under the lock.
    private readonly Dictionary<string, SortedDictionary<(string Namespace, string Name), StoredObject>> _objects =
        Kinds.ByPlural.Keys.ToDictionary(p => p, _ => new SortedDictionary<(string Namespace, string Name), StoredObject>(KeyOrder.Instance), StringComparer.Ordinal);
    private readonly List<StoredEvent> _history = [];
    private long _resourceVersion = 100;
    private long _compactedBefore;

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


    private StoredObject? Find(string plural, string ns, string name) =>
        _objects.TryGetValue(plural, out var objects) ? objects.GetValueOrDefault((ns, name)) : null;


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
}
