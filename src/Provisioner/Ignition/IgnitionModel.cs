using System.Text.Json.Serialization;

namespace Provisioner.Ignition;

// The typed subset of the Ignition config spec (3.x) that Provisioner emits. Serialized with
// System.Text.Json (see IgnitionJson); null members are omitted so the output stays minimal.

internal sealed record IgnitionConfig
{
    [JsonPropertyName("ignition")] public required IgnitionSection Ignition { get; init; }
    [JsonPropertyName("kernelArguments")] public KernelArguments? KernelArguments { get; init; }
    [JsonPropertyName("passwd")] public Passwd? Passwd { get; init; }
    [JsonPropertyName("storage")] public Storage? Storage { get; init; }
    [JsonPropertyName("systemd")] public Systemd? Systemd { get; init; }
}

internal sealed record IgnitionSection
{
    [JsonPropertyName("version")] public required string Version { get; init; }
}

internal sealed record KernelArguments
{
    [JsonPropertyName("shouldExist")] public IReadOnlyList<string>? ShouldExist { get; init; }
    [JsonPropertyName("shouldNotExist")] public IReadOnlyList<string>? ShouldNotExist { get; init; }
}

internal sealed record Passwd
{
    [JsonPropertyName("users")] public IReadOnlyList<PasswdUser>? Users { get; init; }
    [JsonPropertyName("groups")] public IReadOnlyList<PasswdGroup>? Groups { get; init; }
}

internal sealed record PasswdUser
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("sshAuthorizedKeys")] public IReadOnlyList<string>? SshAuthorizedKeys { get; init; }
    [JsonPropertyName("groups")] public IReadOnlyList<string>? Groups { get; init; }
    [JsonPropertyName("homeDir")] public string? HomeDir { get; init; }
    [JsonPropertyName("shell")] public string? Shell { get; init; }
    [JsonPropertyName("uid")] public int? Uid { get; init; }
}

internal sealed record PasswdGroup
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("gid")] public int? Gid { get; init; }
}

internal sealed record Storage
{
    [JsonPropertyName("directories")] public IReadOnlyList<DirectoryEntry>? Directories { get; init; }
    [JsonPropertyName("files")] public IReadOnlyList<FileEntry>? Files { get; init; }
    [JsonPropertyName("links")] public IReadOnlyList<LinkEntry>? Links { get; init; }
}

internal sealed record NodeUser
{
    [JsonPropertyName("id")] public int? Id { get; init; }
    [JsonPropertyName("name")] public string? Name { get; init; }
}

internal sealed record DirectoryEntry
{
    [JsonPropertyName("path")] public required string Path { get; init; }
    [JsonPropertyName("overwrite")] public bool? Overwrite { get; init; }
    [JsonPropertyName("mode")] public int? Mode { get; init; }
    [JsonPropertyName("user")] public NodeUser? User { get; init; }
    [JsonPropertyName("group")] public NodeUser? Group { get; init; }
}

internal sealed record FileEntry
{
    [JsonPropertyName("path")] public required string Path { get; init; }
    [JsonPropertyName("overwrite")] public bool? Overwrite { get; init; }
    [JsonPropertyName("mode")] public int? Mode { get; init; }
    [JsonPropertyName("user")] public NodeUser? User { get; init; }
    [JsonPropertyName("group")] public NodeUser? Group { get; init; }
    [JsonPropertyName("contents")] public Resource? Contents { get; init; }
    [JsonPropertyName("append")] public IReadOnlyList<Resource>? Append { get; init; }
}

internal sealed record LinkEntry
{
    [JsonPropertyName("path")] public required string Path { get; init; }
    [JsonPropertyName("target")] public required string Target { get; init; }
    [JsonPropertyName("hard")] public bool? Hard { get; init; }
    [JsonPropertyName("overwrite")] public bool? Overwrite { get; init; }
    [JsonPropertyName("user")] public NodeUser? User { get; init; }
    [JsonPropertyName("group")] public NodeUser? Group { get; init; }
}

/// <summary>File contents: a <c>data:</c> URL for inline bytes, or an http(s) source with a hash.</summary>
internal sealed record Resource
{
    [JsonPropertyName("source")] public string? Source { get; init; }
    [JsonPropertyName("compression")] public string? Compression { get; init; }
    [JsonPropertyName("verification")] public Verification? Verification { get; init; }
    [JsonPropertyName("httpHeaders")] public IReadOnlyList<HttpHeader>? HttpHeaders { get; init; }
}

internal sealed record Verification
{
    [JsonPropertyName("hash")] public string? Hash { get; init; }
}

internal sealed record HttpHeader
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("value")] public string? Value { get; init; }
}

internal sealed record Systemd
{
    [JsonPropertyName("units")] public IReadOnlyList<Unit>? Units { get; init; }
}

internal sealed record Unit
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("enabled")] public bool? Enabled { get; init; }
    [JsonPropertyName("mask")] public bool? Mask { get; init; }
    [JsonPropertyName("contents")] public string? Contents { get; init; }
    [JsonPropertyName("dropins")] public IReadOnlyList<Dropin>? Dropins { get; init; }
}

internal sealed record Dropin
{
    [JsonPropertyName("name")] public required string Name { get; init; }
    [JsonPropertyName("contents")] public string? Contents { get; init; }
}
