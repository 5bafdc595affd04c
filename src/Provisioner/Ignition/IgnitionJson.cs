using System.Text.Json;
using System.Text.Json.Serialization;

namespace Provisioner.Ignition;

/// <summary>The one place Ignition configs are turned into JSON.</summary>
internal static class IgnitionJson
{
    public static JsonSerializerOptions Options { get; } = new()
    {
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        WriteIndented = false,
    };

    public static string Serialize(IgnitionConfig config) => JsonSerializer.Serialize(config, Options);

    public static byte[] SerializeToUtf8(IgnitionConfig config) => JsonSerializer.SerializeToUtf8Bytes(config, Options);

    public static IgnitionConfig Deserialize(string json) =>
        JsonSerializer.Deserialize<IgnitionConfig>(json, Options) ?? throw new JsonException("empty Ignition config");
}
