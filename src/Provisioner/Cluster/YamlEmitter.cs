using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using k8s;

namespace Provisioner.Cluster;

/// <summary>
/// Writes Kubernetes objects as block-style YAML. Objects go through KubernetesClient's JSON serializer (its
/// field names, omitted nulls, IntOrString/Quantity handling), then this emitter turns the JSON tree into YAML.
/// KubernetesYaml.Serialize produced the same documents but cost milliseconds per object, which a 100-machine
/// cluster (one token Secret each) and the per-request rebuild in serve could not afford. Scalars that could be
/// read as anything but the string they are (numbers, booleans, nulls, special characters) are written as JSON
/// strings, which YAML reads as double-quoted scalars; multi-line text as literal blocks.
/// </summary>
internal static partial class YamlEmitter
{
    public static string Serialize(object obj)
    {
        var node = JsonNode.Parse(KubernetesJson.Serialize(obj)) ?? throw new ArgumentException("object serialized to null", nameof(obj));
        var sb = new StringBuilder();
        switch (node)
        {
            case JsonObject o: WriteObject(sb, o, 0); break;
            default: throw new ArgumentException("a Kubernetes object serializes to a JSON object", nameof(obj));
        }
        return sb.ToString();
    }

    private static void WriteObject(StringBuilder sb, JsonObject obj, int indent, bool firstInline = false)
    {
        var first = true;
        foreach (var (key, value) in obj)
        {
            if (value is null) continue;
            if (!(first && firstInline)) sb.Append(' ', indent);
            first = false;
            sb.Append(Key(key)).Append(':');
            WriteValue(sb, value, indent);
        }
        if (first && firstInline) sb.Append("{}\n");
    }

    /// <summary>Writes what follows "key:" (or "-"): a scalar on the same line, a nested block below.</summary>
    private static void WriteValue(StringBuilder sb, JsonNode value, int indent)
    {
        switch (value)
        {
            case JsonObject o when o.Count == 0:
                sb.Append(" {}\n");
                break;
            case JsonObject o:
                sb.Append('\n');
                WriteObject(sb, o, indent + 2);
                break;
            case JsonArray a when a.Count == 0:
                sb.Append(" []\n");
                break;
            case JsonArray a:
                sb.Append('\n');
                foreach (var item in a)
                {
                    sb.Append(' ', indent).Append("- ");
                    if (item is JsonObject io && io.Count > 0) WriteObject(sb, io, indent + 2, firstInline: true);
                    else if (item is null) sb.Append("null\n");
                    else
                    {
                        sb.Length--; // WriteValue starts with its own space
                        WriteValue(sb, item, indent + 2);
                    }
                }
                break;
            default:
                sb.Append(' ');
                WriteScalar(sb, (JsonValue)value, indent + 2);
                break;
        }
    }

    private static void WriteScalar(StringBuilder sb, JsonValue value, int indent)
    {
        var element = value.GetValue<JsonElement>();
        switch (element.ValueKind)
        {
            case JsonValueKind.String:
                var s = element.GetString()!;
                if (IsBlockText(s))
                {
                    // Literal block: keep the text readable (Corefile, kubeconfig, KubeProxyConfiguration).
                    var body = s.TrimEnd('\n');
                    var trailing = s.Length - body.Length;
                    sb.Append(trailing == 0 ? "|-" : trailing == 1 ? "|" : "|+").Append('\n');
                    foreach (var line in body.Split('\n'))
                    {
                        if (line.Length > 0) sb.Append(' ', indent).Append(line);
                        sb.Append('\n');
                    }
                    for (var i = 1; i < trailing; i++) sb.Append('\n');
                }
                else sb.Append(PlainSafe(s) ? s : JsonSerializer.Serialize(s)).Append('\n');
                break;
            case JsonValueKind.Number:
                sb.Append(element.GetRawText()).Append('\n');
                break;
            case JsonValueKind.True: sb.Append("true\n"); break;
            case JsonValueKind.False: sb.Append("false\n"); break;
            default: sb.Append("null\n"); break;
        }
    }

    private static string Key(string key) => PlainSafe(key) ? key : JsonSerializer.Serialize(key);

    /// <summary>Multi-line text without characters a literal block cannot carry or leading spaces that would change its indentation.</summary>
    private static bool IsBlockText(string s) =>
        s.Contains('\n') && !s.StartsWith(' ') && !s.StartsWith('\n') && !s.Contains('\r') && !s.Contains('\t')
        && s.All(c => c >= ' ' || c == '\n') && s.Split('\n').All(l => l == l.TrimEnd());

    /// <summary>Strings YAML 1.1 and 1.2 parsers both read back as the same string when unquoted.</summary>
    private static bool PlainSafe(string s) =>
        s.Length > 0 && PlainScalar().IsMatch(s) && !Reserved().IsMatch(s)
        && !double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out _)
        && !s.StartsWith("0x", StringComparison.OrdinalIgnoreCase) && !s.StartsWith("0o", StringComparison.OrdinalIgnoreCase);

    [GeneratedRegex("^[A-Za-z0-9_./][A-Za-z0-9_./:=@+-]*$")]
    private static partial Regex PlainScalar();

    // YAML 1.1 booleans/nulls and things resembling numbers, times or merge keys.
    [GeneratedRegex(@"^(y|Y|yes|Yes|YES|n|N|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF|null|Null|NULL|~|[-+.0-9:_]+|<<|\.inf|\.nan)$|:$")]
    private static partial Regex Reserved();
}
