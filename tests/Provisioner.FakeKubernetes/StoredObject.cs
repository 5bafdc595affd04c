using System.Buffers;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Provisioner.FakeKubernetes;

/// <summary>One stored version of an object, never mutated, with its JSON serialized once.</summary>
internal sealed class StoredObject(JsonObject obj, long resourceVersion)
{
    private byte[]? _itemJson;

    /// <summary>Shared with the store's history; read only under the store's lock.</summary>
    public JsonObject Object => obj;
    public long ResourceVersion => resourceVersion;

    /// <summary>The object as GET and write answers and watch events carry it, kind and apiVersion included.</summary>
    public byte[] Json { get; } = WireJson.Serialize(obj);

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

/// <summary>One change as watches see it.</summary>
/// <param name="Object">Shared with the store; read only under the store's lock (label selectors).</param>
/// <param name="Line">The whole watch event line, serialized once for every watcher.</param>
internal sealed record StoredEvent(long ResourceVersion, string Plural, string Namespace, string Type, JsonObject Object, byte[] Line);

/// <summary>Ordinal (namespace, name) order, the order lists come out in.</summary>
internal sealed class KeyOrder : IComparer<(string Namespace, string Name)>
{
    public static readonly KeyOrder Instance = new();

    public int Compare((string Namespace, string Name) x, (string Namespace, string Name) y)
    {
        var byNamespace = string.CompareOrdinal(x.Namespace, y.Namespace);
        return byNamespace != 0 ? byNamespace : string.CompareOrdinal(x.Name, y.Name);
    }
}
