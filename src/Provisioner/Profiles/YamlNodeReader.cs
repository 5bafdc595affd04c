using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Provisioner.Profiles;

/// <summary>
/// Reads a YAML mapping field by field while remembering where each value came from, so that every
/// problem can be reported with file, line, column and the dotted field path. Unknown keys are errors:
/// a typo must not silently fall back to a default.
/// </summary>
internal sealed class YamlNodeReader
{
    private readonly YamlMappingNode _node;
    private readonly HashSet<string> _consumed = new(StringComparer.Ordinal);

    public YamlNodeReader(YamlMappingNode node, string file, string path, List<ProfileDiagnostic> diagnostics)
    {
        _node = node;
        File = file;
        Path = path;
        Diagnostics = diagnostics;
    }

    public string File { get; }
    public string Path { get; }
    public List<ProfileDiagnostic> Diagnostics { get; }
    public YamlMappingNode Node => _node;

    public string FieldPath(string key) => Path.Length == 0 ? key : $"{Path}.{key}";

    public void Error(YamlNode at, string field, string message) =>
        Diagnostics.Add(new ProfileDiagnostic(File, (int)at.Start.Line, (int)at.Start.Column, field, message));

    public void Error(string message) => Error(_node, Path, message);

    /// <summary>A problem with the value of <paramref name="key"/>, reported at that value.</summary>
    public void FieldError(string key, string message) => FieldError(key, key, message);

    /// <summary>A problem with <paramref name="field"/> (below <paramref name="key"/>), reported at the value of <paramref name="key"/>.</summary>
    public void FieldError(string key, string field, string message) => Error(Raw(key) ?? _node, FieldPath(field), message);

    public YamlNode? Raw(string key)
    {
        _consumed.Add(key);
        foreach (var (k, v) in _node.Children)
            if (k is YamlScalarNode s && s.Value == key) return v;
        return null;
    }

    public SourceLocation Location => new(File, (int)_node.Start.Line, (int)_node.Start.Column);

    public string? String(string key, bool required = false)
    {
        var node = Raw(key);
        if (node is null || IsNull(node))
        {
            if (required) Error(node ?? _node, FieldPath(key), $"required field '{key}' is missing");
            return null;
        }
        if (node is not YamlScalarNode scalar)
        {
            Error(node, FieldPath(key), "expected a single value (a string), found a " + Describe(node));
            return null;
        }
        if (required && string.IsNullOrWhiteSpace(scalar.Value))
        {
            Error(node, FieldPath(key), $"'{key}' must not be empty");
            return null;
        }
        return scalar.Value;
    }

    /// <summary>Parses a scalar with <paramref name="parse"/>; on failure reports "<c>expected</c>".</summary>
    public T? Parsed<T>(string key, TryParse<T> parse, string expected, bool required = false) where T : struct
    {
        var text = String(key, required);
        if (text is null) return null;
        if (parse(text.Trim(), out var value)) return value;
        FieldError(key, $"'{text}' is not {expected}");
        return null;
    }

    public T? ParsedRef<T>(string key, TryParseRef<T> parse, string expected, bool required = false) where T : class
    {
        var text = String(key, required);
        if (text is null) return null;
        if (parse(text.Trim(), out var value) && value is not null) return value;
        FieldError(key, $"'{text}' is not {expected}");
        return null;
    }

    public bool? Bool(string key) => Parsed<bool>(key, TryParseBool, "true or false");

    public YamlNodeReader? Mapping(string key, bool required = false)
    {
        var node = Raw(key);
        if (node is null || IsNull(node))
        {
            if (required) Error(node ?? _node, FieldPath(key), $"required section '{key}' is missing");
            return null;
        }
        if (node is YamlMappingNode map) return new YamlNodeReader(map, File, FieldPath(key), Diagnostics);
        Error(node, FieldPath(key), "expected a mapping (key: value pairs), found a " + Describe(node));
        return null;
    }

    /// <summary>A list of scalars; a single scalar is accepted as a one-element list.</summary>
    public IReadOnlyList<(string Value, YamlNode Node)> StringList(string key)
    {
        var node = Raw(key);
        if (node is null || IsNull(node)) return [];
        if (node is YamlScalarNode single) return [(single.Value ?? "", single)];
        if (node is not YamlSequenceNode seq)
        {
            Error(node, FieldPath(key), "expected a list of values, found a " + Describe(node));
            return [];
        }
        var result = new List<(string, YamlNode)>();
        for (int i = 0; i < seq.Children.Count; i++)
        {
            if (seq.Children[i] is YamlScalarNode s) result.Add((s.Value ?? "", s));
            else Error(seq.Children[i], $"{FieldPath(key)}[{i}]", "expected a single value, found a " + Describe(seq.Children[i]));
        }
        return result;
    }

    /// <summary>A mapping of string to string (labels, annotations).</summary>
    public IReadOnlyList<(string Key, string Value, YamlNode Node)> StringMap(string key)
    {
        var node = Raw(key);
        if (node is null || IsNull(node)) return [];
        if (node is not YamlMappingNode map)
        {
            Error(node, FieldPath(key), "expected a mapping (key: value pairs), found a " + Describe(node));
            return [];
        }
        var result = new List<(string, string, YamlNode)>();
        foreach (var (k, v) in map.Children)
        {
            var name = (k as YamlScalarNode)?.Value ?? "";
            if (v is YamlScalarNode s) result.Add((name, IsNull(s) ? "" : s.Value ?? "", k));
            else Error(v, $"{FieldPath(key)}.{name}", "expected a single value, found a " + Describe(v));
        }
        return result;
    }

    public IReadOnlyList<YamlNodeReader> MappingList(string key)
    {
        var node = Raw(key);
        if (node is null || IsNull(node)) return [];
        if (node is not YamlSequenceNode seq)
        {
            Error(node, FieldPath(key), "expected a list, found a " + Describe(node));
            return [];
        }
        var result = new List<YamlNodeReader>();
        for (int i = 0; i < seq.Children.Count; i++)
        {
            if (seq.Children[i] is YamlMappingNode m) result.Add(new YamlNodeReader(m, File, $"{FieldPath(key)}[{i}]", Diagnostics));
            else Error(seq.Children[i], $"{FieldPath(key)}[{i}]", "expected a mapping, found a " + Describe(seq.Children[i]));
        }
        return result;
    }

    /// <summary>Reports every key that no reader asked for. Call after reading all known fields.</summary>
    public void RejectUnknownKeys()
    {
        foreach (var (k, _) in _node.Children)
        {
            var name = (k as YamlScalarNode)?.Value ?? k.ToString();
            if (!_consumed.Contains(name))
                Error(k, FieldPath(name), $"unknown field '{name}'{Suggest(name)}");
        }
    }

    private string Suggest(string name)
    {
        var best = _consumed.OrderBy(c => Levenshtein(c.ToLowerInvariant(), name.ToLowerInvariant())).FirstOrDefault();
        return best is not null && Levenshtein(best.ToLowerInvariant(), name.ToLowerInvariant()) <= 2
            ? $" (did you mean '{best}'?)"
            : $" (known fields: {string.Join(", ", _consumed.Order(StringComparer.Ordinal))})";
    }

    private static int Levenshtein(string a, string b)
    {
        var d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++) d[i, 0] = i;
        for (int j = 0; j <= b.Length; j++) d[0, j] = j;
        for (int i = 1; i <= a.Length; i++)
            for (int j = 1; j <= b.Length; j++)
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
        return d[a.Length, b.Length];
    }

    public static bool IsNull(YamlNode node) =>
        node is YamlScalarNode s && s.Style == ScalarStyle.Plain && (s.Value is null || s.Value is "" or "~" or "null" or "Null" or "NULL");

    public static string Describe(YamlNode node) => node switch
    {
        YamlMappingNode => "mapping",
        YamlSequenceNode => "list",
        YamlScalarNode => "single value",
        _ => "YAML node",
    };

    private static bool TryParseBool(string s, out bool value)
    {
        switch (s.ToLowerInvariant())
        {
            case "true" or "yes" or "on": value = true; return true;
            case "false" or "no" or "off": value = false; return true;
            default: value = false; return false;
        }
    }

    public static bool TryParseInt(string s, out int value) =>
        int.TryParse(s, NumberStyles.Integer, CultureInfo.InvariantCulture, out value);
}

internal delegate bool TryParse<T>(string text, out T value);
internal delegate bool TryParseRef<T>(string text, out T? value);
