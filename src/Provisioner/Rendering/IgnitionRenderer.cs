using System.Globalization;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Provisioner.Ignition;
using Provisioner.Profiles;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Provisioner.Rendering;

/// <summary>
/// Turns a role's template (a YAML document in the shape of an Ignition config) into a typed
/// <see cref="IgnitionConfig"/>. Only string <em>values</em> are templated, after the YAML structure is
/// parsed, so no profile value can inject YAML or JSON syntax. Extensions over plain Ignition:
/// <list type="bullet">
/// <item><c>include: [name]</c> merges another template directory first (maps merge, lists append);</item>
/// <item><c>if: "liquid condition"</c> on a list entry keeps it only when the condition holds;</item>
/// <item><c>contents: {inline: "…"}</c> or <c>{template: file}</c> on files become <c>data:</c> URLs,
///   on units and drop-ins the unit text;</item>
/// <item>a list entry that is exactly <c>{{ some.list }}</c> is replaced by that list's items (strings, or
///   objects such as the generated <c>machine.cluster_files</c> entries);</item>
/// <item><c>mode: 0644</c> is read as octal, as operators write it.</item>
/// </list>
/// </summary>
internal sealed partial class IgnitionRenderer(TextTemplates text)
{
    public static readonly string DefaultVersion = IgnitionSpec.Format(IgnitionSpec.Default);

    private static readonly JsonSerializerOptions StrictJson = new(IgnitionJson.Options)
    {
        UnmappedMemberHandling = System.Text.Json.Serialization.JsonUnmappedMemberHandling.Disallow,
    };

    /// <param name="material">The machine's cluster assets (tokens, keys); null renders with placeholders, as validation does.</param>
    public IgnitionConfig Render(IgnitionTemplateSet templates, ProfileSet profiles, MachineSpec machine, Uri provisionerBaseUrl,
        Provisioner.Cluster.MachineMaterial? material = null)
    {
        var role = profiles.Roles[machine.Role];
        var values = TemplateValues.For(profiles, machine, provisionerBaseUrl, material);
        var root = Load(templates, role.IgnitionTemplate, values, new ImmutableStack());
        root["ignition"] ??= new JsonObject();
        if (root["ignition"] is JsonObject ign && ign["version"] is null) ign["version"] = DefaultVersion;
        var origin = templates.Templates[role.IgnitionTemplate].ConfigPath;
        try
        {
            return root.Deserialize<IgnitionConfig>(StrictJson) ?? throw new TemplateException(origin, "empty config");
        }
        catch (JsonException e)
        {
            throw new TemplateException(origin, $"not an Ignition config: {e.Message}");
        }
    }

    private JsonObject Load(IgnitionTemplateSet set, string name, IReadOnlyDictionary<string, object> values, ImmutableStack chain)
    {
        if (!set.Templates.TryGetValue(name, out var template))
            throw new TemplateException(set.Root, $"template '{name}' does not exist");
        if (chain.Contains(name))
            throw new TemplateException(template.ConfigPath, $"include cycle: {string.Join(" → ", chain.Reverse().Append(name))}");

        YamlStream yaml = new();
        try { yaml.Load(new StringReader(template.ConfigText)); }
        catch (YamlException e)
        {
            throw new TemplateException(new TemplateLocation(template.ConfigPath, (int)e.Start.Line, (int)e.Start.Column), "not valid YAML: " + (e.InnerException?.Message ?? e.Message));
        }
        if (yaml.Documents.Count != 1 || yaml.Documents[0].RootNode is not YamlMappingNode map)
            throw new TemplateException(template.ConfigPath, "expected one YAML document with a mapping at the top");

        var converter = new Converter(this, template, values);
        var result = new JsonObject();
        foreach (var (k, v) in map.Children)
        {
            var key = ((YamlScalarNode)k).Value!;
            if (key == "include")
            {
                var includes = v is YamlSequenceNode seq ? seq.Children.Select(c => ((YamlScalarNode)c).Value!) : [((YamlScalarNode)v).Value!];
                foreach (var include in includes)
                    Merge(result, Load(set, include, values, chain.Push(name)));
            }
        }
        foreach (var (k, v) in map.Children)
        {
            var key = ((YamlScalarNode)k).Value!;
            if (key == "include") continue;
            var node = converter.Convert(v, key);
            if (node is null) continue;
            var merged = new JsonObject { [key] = node };
            Merge(result, merged);
        }
        return result;
    }

    /// <summary>Deep merge: objects merge key by key, arrays append, scalars are replaced.</summary>
    private static void Merge(JsonObject target, JsonObject source)
    {
        foreach (var (key, value) in source.ToList())
        {
            source.Remove(key);
            if (target[key] is JsonObject t && value is JsonObject s) Merge(t, s);
            else if (target[key] is JsonArray ta && value is JsonArray sa)
                foreach (var item in sa.ToList()) { sa.Remove(item); ta.Add(item); }
            else target[key] = value;
        }
    }

    [GeneratedRegex(@"^\s*\{\{\s*([A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*)\s*\}\}\s*$")]
    private static partial Regex SingleVariable();

    [GeneratedRegex("^[A-Za-z0-9][A-Za-z0-9._-]*$")]
    private static partial Regex PlainFileName();

    private sealed class Converter(IgnitionRenderer renderer, IgnitionTemplate template, IReadOnlyDictionary<string, object> values)
    {
        private TemplateLocation Where(YamlNode node) => new(template.ConfigPath, (int)node.Start.Line, (int)node.Start.Column);

        public JsonNode? Convert(YamlNode node, string path) => node switch
        {
            YamlMappingNode map => ConvertMapping(map, path),
            YamlSequenceNode seq => ConvertSequence(seq, path),
            YamlScalarNode scalar => ConvertScalar(scalar, path),
            _ => throw new TemplateException(Where(node), "unsupported YAML node (anchors and aliases are not supported)"),
        };

        private JsonNode? ConvertMapping(YamlMappingNode map, string path)
        {
            if (path.EndsWith(".contents", StringComparison.Ordinal) || path.EndsWith(".append[]", StringComparison.Ordinal))
            {
                var special = ConvertContents(map, path);
                if (special is not null) return special;
            }
            var obj = new JsonObject();
            foreach (var (k, v) in map.Children)
            {
                var key = ((YamlScalarNode)k).Value!;
                if (key == "if") continue;
                var child = Convert(v, $"{path}.{key}");
                if (child is not null) obj[key] = child;
            }
            return obj;
        }

        private JsonNode? ConvertSequence(YamlSequenceNode seq, string path)
        {
            var array = new JsonArray();
            foreach (var item in seq.Children)
            {
                if (item is YamlMappingNode m && m.Children.TryGetValue(new YamlScalarNode("if"), out var cond))
                {
                    var expression = ((YamlScalarNode)cond).Value ?? "";
                    if (!renderer._text.Condition(expression, values, Where(cond))) continue;
                }
                if (item is YamlScalarNode s && s.Value is { } v && SingleVariable().Match(v) is { Success: true } match)
                {
                    var found = Lookup(match.Groups[1].Value);
                    if (found is IEnumerable<string> list)
                    {
                        foreach (var element in list) array.Add(element);
                        continue;
                    }
                    if (found is IEnumerable<IReadOnlyDictionary<string, object>> objects)
                    {
                        foreach (var element in objects) array.Add(JsonSerializer.SerializeToNode(element));
                        continue;
                    }
                }
                var converted = Convert(item, path + "[]");
                if (converted is not null) array.Add(converted);
            }
            return array;
        }

        private object? Lookup(string dotted)
        {
            object? current = values;
            foreach (var part in dotted.Split('.'))
                current = current is IReadOnlyDictionary<string, object> d && d.TryGetValue(part, out var next) ? next : null;
            return current;
        }

        private JsonNode? ConvertScalar(YamlScalarNode scalar, string path)
        {
            var raw = scalar.Value ?? "";
            if (scalar.Style == ScalarStyle.Plain)
            {
                if (raw is "" or "~" or "null") return null;
                if (raw is "true" or "false") return JsonValue.Create(raw == "true");
                if (path.EndsWith(".mode", StringComparison.Ordinal) && Regex.IsMatch(raw, "^0[0-7]+$"))
                    return JsonValue.Create(System.Convert.ToInt32(raw, 8));
                if (int.TryParse(raw, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var i)) return JsonValue.Create(i);
            }
            return JsonValue.Create(RenderString(raw, scalar));
        }

        private string RenderString(string raw, YamlNode at) =>
            raw.Contains("{{", StringComparison.Ordinal) || raw.Contains("{%", StringComparison.Ordinal)
                ? renderer._text.Render(raw, values, Where(at))
                : raw;

        /// <summary><c>{inline: …}</c> and <c>{template: file}</c> for file contents, unit bodies and drop-ins.</summary>
        private JsonNode? ConvertContents(YamlMappingNode map, string path)
        {
            string? body = null;
            foreach (var (k, v) in map.Children)
            {
                var key = ((YamlScalarNode)k).Value;
                if (key == "inline") body = RenderString(((YamlScalarNode)v).Value ?? "", v);
                else if (key == "template") body = RenderFile(((YamlScalarNode)v).Value ?? "", v);
                else if (body is not null || map.Children.Count == 1)
                    throw new TemplateException(Where(k), $"'{key}' cannot be combined with inline/template contents");
            }
            if (body is null) return null;
            if (map.Children.Count != 1)
                throw new TemplateException(Where(map), "contents take exactly one of inline, template or source");
            bool isUnitText = path.StartsWith("systemd.", StringComparison.Ordinal);
            if (isUnitText) return JsonValue.Create(body);
            return JsonSerializer.SerializeToNode(DataUrl.ForContents(Encoding.UTF8.GetBytes(body)), IgnitionJson.Options);
        }

        private string RenderFile(string fileName, YamlNode at)
        {
            if (!PlainFileName().IsMatch(fileName))
                throw new TemplateException(Where(at), $"'{fileName}' must be the name of a file beside config.yaml (no paths)");
            if (!template.Files.TryGetValue(fileName, out var source))
                throw new TemplateException(Where(at), $"template file '{fileName}' does not exist in {template.Directory}");
            return renderer._text.Render(source, values, new TemplateLocation(Path.Combine(template.Directory, fileName)));
        }
    }

    private readonly TextTemplates _text = text;

    /// <summary>A tiny persistent stack for the include chain.</summary>
    private sealed class ImmutableStack : IEnumerable<string>
    {
        private readonly string? _head;
        private readonly ImmutableStack? _tail;
        public ImmutableStack() { }
        private ImmutableStack(string head, ImmutableStack tail) { _head = head; _tail = tail; }
        public ImmutableStack Push(string s) => new(s, this);
        public IEnumerator<string> GetEnumerator()
        {
            for (var s = this; s?._head is not null; s = s._tail) yield return s._head;
        }
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
