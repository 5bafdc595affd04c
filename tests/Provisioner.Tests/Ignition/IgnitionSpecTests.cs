using System.Text.Json.Nodes;
using Provisioner.Ignition;

namespace Provisioner.Tests.Ignition;

public class IgnitionSpecTests
{
    private static IgnitionConfig Config(string version = "3.4.0") => new() { Ignition = new IgnitionSection { Version = version } };

    private static IgnitionConfig WithFile(FileEntry file) => Config() with { Storage = new Storage { Files = [file] } };

    [Fact]
    public void The_supported_versions_are_3_0_to_3_5() =>
        Assert.Equal(["3.0.0", "3.1.0", "3.2.0", "3.3.0", "3.4.0", "3.5.0"], IgnitionSpec.Supported.Select(IgnitionSpec.Format));

    [Fact]
    public void The_default_version_is_3_4() => Assert.Equal(new Version(3, 4, 0), IgnitionSpec.Default);

    [Fact]
    public void A_plain_config_needs_only_3_0() => Assert.Equal(new Version(3, 0, 0), IgnitionSpec.MinimumVersion(Config()));

    [Fact]
    public void Http_headers_need_3_1() =>
        Assert.Equal(new Version(3, 1, 0), IgnitionSpec.MinimumVersion(WithFile(new FileEntry
        {
            Path = "/a",
            Contents = new Resource { Source = "https://example.test/a", HttpHeaders = [new HttpHeader { Name = "Authorization", Value = "x" }] },
        })));

    [Fact]
    public void A_sha256_hash_needs_3_1() =>
        Assert.Equal(new Version(3, 1, 0), IgnitionSpec.MinimumVersion(WithFile(new FileEntry
        {
            Path = "/a",
            Contents = new Resource { Source = "https://example.test/a", Verification = new Verification { Hash = "sha256-" + new string('0', 64) } },
        })));

    [Fact]
    public void A_sha512_hash_needs_only_3_0() =>
        Assert.Equal(new Version(3, 0, 0), IgnitionSpec.MinimumVersion(WithFile(new FileEntry
        {
            Path = "/a",
            Contents = new Resource { Source = "https://example.test/a", Verification = new Verification { Hash = "sha512-" + new string('0', 128) } },
        })));

    [Fact]
    public void Kernel_arguments_need_3_3() =>
        Assert.Equal(new Version(3, 3, 0), IgnitionSpec.MinimumVersion(Config() with { KernelArguments = new KernelArguments { ShouldExist = ["quiet"] } }));

    [Fact]
    public void A_setuid_mode_needs_3_4() =>
        Assert.Equal(new Version(3, 4, 0), IgnitionSpec.MinimumVersion(WithFile(new FileEntry { Path = "/a", Mode = 0x9ED /* 04755 */ })));

    [Fact]
    public void The_minimum_is_that_of_the_newest_feature() =>
        Assert.Equal(new Version(3, 3, 0), IgnitionSpec.MinimumVersion(WithFile(new FileEntry
        {
            Path = "/a",
            Contents = new Resource { Source = "https://example.test/a", HttpHeaders = [] },
        }) with { KernelArguments = new KernelArguments() }));

    [Fact]
    public void WithVersion_changes_only_the_declared_version()
    {
        var original = WithFile(new FileEntry { Path = "/a", Mode = 420 });
        var converted = original.WithVersion(new Version(3, 0, 0));
        Assert.Equal("3.0.0", converted.Ignition.Version);
        Assert.Same(original.Storage, converted.Storage);
    }

    [Fact]
    public void WithVersion_refuses_a_version_too_old_for_the_config()
    {
        var e = Assert.Throws<ArgumentException>(() => (Config() with { KernelArguments = new KernelArguments() }).WithVersion(new Version(3, 2, 0)));
        Assert.Contains("kernelArguments", e.Message);
        Assert.Contains("3.3.0", e.Message);
    }

    [Fact]
    public void WithVersion_refuses_an_unsupported_version() =>
        Assert.Contains("3.0.0 to 3.5.0", Assert.Throws<ArgumentException>(() => Config().WithVersion(new Version(3, 6, 0))).Message);

    // The known-keys table is transcribed by hand; this keeps it honest against the official schemas.
    [Theory]
    [InlineData("3.0.0")] [InlineData("3.1.0")] [InlineData("3.2.0")] [InlineData("3.3.0")] [InlineData("3.4.0")] [InlineData("3.5.0")]
    public void The_known_keys_match_the_official_schema(string version)
    {
        var schema = JsonNode.Parse(File.ReadAllText(IgnitionSchema.FilePath(version)))!.AsObject();
        var fromSchema = new SortedSet<string>(StringComparer.Ordinal);
        CollectSchemaPaths(schema, schema, "$", fromSchema, []);
        Assert.Equal(fromSchema, new SortedSet<string>(IgnitionKnownKeys.AllPaths(Version.Parse(version)), StringComparer.Ordinal));
    }

    private static void CollectSchemaPaths(JsonObject root, JsonObject node, string path, SortedSet<string> paths, HashSet<string> seenRefs)
    {
        if (node["$ref"]?.GetValue<string>() is { } reference)
        {
            if (!seenRefs.Add(reference)) return;
            node = reference.TrimStart('#', '/').Split('/').Aggregate((JsonNode)root, (n, part) => n[part]!).AsObject();
        }
        foreach (var (key, value) in node["properties"]?.AsObject() ?? [])
        {
            paths.Add(path + "." + key);
            CollectSchemaPaths(root, value!.AsObject(), path + "." + key, paths, [.. seenRefs]);
        }
        if (node["items"] is JsonObject items) CollectSchemaPaths(root, items, path + "[]", paths, [.. seenRefs]);
        foreach (var combinator in new[] { "allOf", "anyOf", "oneOf" })
            foreach (var sub in node[combinator]?.AsArray() ?? [])
                CollectSchemaPaths(root, sub!.AsObject(), path, paths, [.. seenRefs]);
    }
}
