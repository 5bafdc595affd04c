using System.Text.Json.Nodes;

namespace Provisioner.Tests.FakeKubernetes;

/// <summary>
/// The structure of a JSON document: every field path with the JSON type found there (array items merged
/// under <c>path[]</c>). Two documents of the same shape differ only in values.
/// </summary>
internal static class JsonShape
{
    public static SortedSet<string> Of(JsonNode? node)
    {
        var shape = new SortedSet<string>(StringComparer.Ordinal);
        Walk(node, "$", shape);
        return shape;
    }

    private static void Walk(JsonNode? node, string path, SortedSet<string> shape)
    {
        switch (node)
        {
            case null:
                shape.Add($"{path}: null");
                break;
            case JsonObject obj:
                shape.Add($"{path}: object");
                foreach (var (key, value) in obj) Walk(value, $"{path}.{key}", shape);
                break;
            case JsonArray array:
                shape.Add($"{path}: array");
                foreach (var item in array) Walk(item, path + "[]", shape);
                break;
            default:
                shape.Add($"{path}: {node.GetValueKind().ToString().ToLowerInvariant()}");
                break;
        }
    }

    /// <summary>Fails with the paths only one side has, which is what a reader needs to see.</summary>
    public static void AssertSame(JsonNode? expected, JsonNode? actual)
    {
        var e = Of(expected);
        var a = Of(actual);
        var missing = e.Except(a).ToList();
        var extra = a.Except(e).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"JSON shapes differ.\nIn the recorded response only:\n  {string.Join("\n  ", missing)}\nIn the fake's only:\n  {string.Join("\n  ", extra)}");
    }
}
