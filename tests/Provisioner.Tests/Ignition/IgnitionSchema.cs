using System.Collections.Concurrent;
using NJsonSchema;
using NJsonSchema.Validation;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Ignition;

/// <summary>Validates JSON against the official Ignition config schema (../shared/ignition/ignition-X.Y.Z.json, draft-04).</summary>
internal static class IgnitionSchema
{
    private static readonly ConcurrentDictionary<string, Lazy<Task<JsonSchema>>> Schemas = new();

    /// <summary>Fails the test, listing every schema violation, unless <paramref name="json"/> is valid for spec <paramref name="version"/> (e.g. "3.4.0").</summary>
    public static async Task AssertValidAsync(string json, string version)
    {
        var errors = await ErrorsAsync(json, version);
        if (errors.Count > 0)
            Assert.Fail($"Ignition config is not valid against the {version} schema:\n  " + string.Join("\n  ", errors) + "\n" + json);
    }

    /// <summary>The schema violations, for tests that expect some.</summary>
    public static async Task<IReadOnlyList<string>> ErrorsAsync(string json, string version) =>
        Flatten((await LoadAsync(version)).Validate(json)).Select(e => $"{e.Path}: {e.Kind}").ToList();

    // NJsonSchema reports an invalid array item or $ref'd object as one error holding the real ones.
    private static IEnumerable<ValidationError> Flatten(IEnumerable<ValidationError> errors) =>
        errors.SelectMany(e => e is ChildSchemaValidationError child
            ? Flatten(child.Errors.SelectMany(pair => pair.Value)).DefaultIfEmpty(e)
            : [e]);

    public static string FilePath(string version) => RepoPaths.SharedFile($"ignition/ignition-{version}.json");

    private static Task<JsonSchema> LoadAsync(string version) =>
        Schemas.GetOrAdd(version, v => new Lazy<Task<JsonSchema>>(async () =>
        {
            var path = FilePath(v);
            return await JsonSchema.FromJsonAsync(await File.ReadAllTextAsync(path), path);
        })).Value;
}
