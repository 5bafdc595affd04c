using System.Text;
using System.Text.Json;
using Provisioner.Ignition;

namespace Provisioner.Boot;

/// <summary>
/// The public config plain HTTP serves (as OpenShift's machine-config-server does): it pins Provisioner's CA and
/// merges the machine's real config from the TLS listener. It holds no secret; the ticket in the merge URL is worth
/// one delivery to the address that asked <c>/ipxe</c>, and only while the machine is armed.
/// </summary>
internal static class PointerConfig
{
    /// <summary>What the pointer needs of a spec version, for negotiating it alone: nothing beyond 3.0.0.</summary>
    public static IgnitionConfig Shape { get; } = new() { Ignition = new IgnitionSection { Version = "3.0.0" } };

    private const string SourceMarker = "\u0000merge-source\u0000";

    private sealed record Halves(byte[] Before, byte[] After);

    // The pointer differs between requests only by its merge source: the JSON around it is written once per spec version
    // and CA (a rendered CA certificate is ~1.5 KB of base64), keeping the CA it was made for by reference.
    private sealed record Prepared(string CaPem, System.Collections.Concurrent.ConcurrentDictionary<Version, Halves> ByVersion);

    private static volatile Prepared _prepared = new("", new());

    /// <summary>The pointer in spec <paramref name="version"/> (merge and certificateAuthorities exist since 3.0.0).</summary>
    public static byte[] Build(Version version, string mergeSource, string caPem)
    {
        var prepared = _prepared;
        if (!ReferenceEquals(prepared.CaPem, caPem))
            _prepared = prepared = new Prepared(caPem, new());
        var halves = prepared.ByVersion.GetOrAdd(version, static (v, pem) => Split(Write(v, SourceMarker, pem)), caPem);
        var source = JsonEncodedText.Encode(mergeSource).EncodedUtf8Bytes;
        var result = new byte[halves.Before.Length + source.Length + halves.After.Length];
        halves.Before.CopyTo(result, 0);
        source.CopyTo(result.AsSpan(halves.Before.Length));
        halves.After.CopyTo(result, halves.Before.Length + source.Length);
        return result;
    }

    private static Halves Split(byte[] json)
    {
        var marker = JsonEncodedText.Encode(SourceMarker).EncodedUtf8Bytes;
        var at = json.AsSpan().IndexOf(marker);
        return new Halves(json[..at], json[(at + marker.Length)..]);
    }

    private static byte[] Write(Version version, string mergeSource, string caPem)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartObject("ignition");
            json.WriteString("version", IgnitionSpec.Format(version));
            json.WriteStartObject("config");
            json.WriteStartArray("merge");
            json.WriteStartObject();
            json.WriteString("source", mergeSource);
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteStartObject("security");
            json.WriteStartObject("tls");
            json.WriteStartArray("certificateAuthorities");
            json.WriteStartObject();
            json.WriteString("source", "data:;base64," + Convert.ToBase64String(Encoding.UTF8.GetBytes(caPem)));
            json.WriteEndObject();
            json.WriteEndArray();
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
            json.WriteEndObject();
        }
        return buffer.ToArray();
    }
}
