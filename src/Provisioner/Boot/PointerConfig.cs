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

    /// <summary>The pointer in spec <paramref name="version"/> (merge and certificateAuthorities exist since 3.0.0).</summary>
    public static byte[] Build(Version version, string mergeSource, string caPem)
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
