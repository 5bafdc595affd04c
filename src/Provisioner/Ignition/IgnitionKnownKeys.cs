namespace Provisioner.Ignition;

/// <summary>
/// The object keys each spec version defines, transcribed from the official schemas
/// (a test checks this table against ../shared/ignition/ignition-3.X.0.json). Arrays are transparent:
/// the node of <c>files</c> describes each element. Used to warn about keys Ignition would ignore.
/// </summary>
internal sealed class IgnitionKnownKeys
{
    private readonly Dictionary<string, (Version Since, IgnitionKnownKeys Child)> children = new(StringComparer.Ordinal);

    /// <summary>The child for <paramref name="key"/> if the key exists in <paramref name="version"/>; otherwise null and the version that introduced it, if any.</summary>
    public IgnitionKnownKeys? Child(string key, Version version, out Version? introducedIn)
    {
        introducedIn = null;
        if (!children.TryGetValue(key, out var entry)) return null;
        if (entry.Since > version) { introducedIn = entry.Since; return null; }
        return entry.Child;
    }

    /// <summary>Every key path of <paramref name="version"/>, like <c>$.storage.files[].path</c> (arrays shown as <c>[]</c> where the schema has them).</summary>
    public static IReadOnlySet<string> AllPaths(Version version)
    {
        var paths = new SortedSet<string>(StringComparer.Ordinal);
        Collect(Root, "$", version, paths);
        return paths;
    }

    private static void Collect(IgnitionKnownKeys node, string prefix, Version version, SortedSet<string> paths)
    {
        foreach (var (key, (since, child)) in node.children)
        {
            if (since > version) continue;
            var path = prefix + "." + key + (ArrayKeys.Contains(key) && child != Leaf ? "[]" : "");
            paths.Add(prefix + "." + key);
            Collect(child, path, version, paths);
        }
    }

    // Keys whose value is an array of objects (only matters for AllPaths' notation).
    private static readonly HashSet<string> ArrayKeys =
        ["merge", "certificateAuthorities", "httpHeaders", "disks", "partitions", "files", "append", "directories", "links",
         "filesystems", "raid", "luks", "tang", "units", "dropins", "users", "groups"];

    private static readonly IgnitionKnownKeys Leaf = new();

    private static IgnitionKnownKeys Node(params (string Key, IgnitionKnownKeys? Child, Version? Since)[] keys)
    {
        var node = new IgnitionKnownKeys();
        foreach (var (key, child, since) in keys) node.children[key] = (since ?? IgnitionSpec.V3_0, child ?? Leaf);
        return node;
    }

    private static (string, IgnitionKnownKeys?, Version?) K(string key, IgnitionKnownKeys? child = null, Version? since = null) => (key, child, since);

    private static IgnitionKnownKeys Resource(Version compressionSince) => Node(
        K("source"),
        K("compression", since: compressionSince),
        K("verification", Node(K("hash"))),
        K("httpHeaders", Node(K("name"), K("value")), IgnitionSpec.V3_1));

    private static IgnitionKnownKeys Owner() => Node(K("id"), K("name"));

    public static IgnitionKnownKeys Root { get; } = Build();

    private static IgnitionKnownKeys Build()
    {
        var v31 = IgnitionSpec.V3_1; var v32 = IgnitionSpec.V3_2; var v33 = IgnitionSpec.V3_3;
        var v34 = IgnitionSpec.V3_4; var v35 = IgnitionSpec.V3_5;
        var configResource = Resource(v31); // config/CA resources gained compression in 3.1.0, file contents had it from 3.0.0
        var fileResource = Resource(IgnitionSpec.V3_0);
        return Node(
            K("ignition", Node(
                K("version"),
                K("config", Node(K("merge", configResource), K("replace", configResource))),
                K("timeouts", Node(K("httpResponseHeaders"), K("httpTotal"))),
                K("security", Node(K("tls", Node(K("certificateAuthorities", configResource))))),
                K("proxy", Node(K("httpProxy"), K("httpsProxy"), K("noProxy")), v31))),
            K("storage", Node(
                K("disks", Node(
                    K("device"), K("wipeTable"),
                    K("partitions", Node(
                        K("guid"), K("label"), K("number"), K("shouldExist"), K("sizeMiB"), K("startMiB"), K("typeGuid"),
                        K("wipePartitionEntry"), K("resize", since: v32))))),
                K("files", Node(
                    K("path"), K("overwrite"), K("mode"), K("user", Owner()), K("group", Owner()),
                    K("contents", fileResource), K("append", fileResource))),
                K("directories", Node(K("path"), K("overwrite"), K("mode"), K("user", Owner()), K("group", Owner()))),
                K("links", Node(K("path"), K("overwrite"), K("user", Owner()), K("group", Owner()), K("hard"), K("target"))),
                K("filesystems", Node(
                    K("device"), K("format"), K("label"), K("options"), K("path"), K("uuid"), K("wipeFilesystem"),
                    K("mountOptions", since: v31))),
                K("raid", Node(K("devices"), K("level"), K("name"), K("options"), K("spares"))),
                K("luks", Node(
                    K("clevis", Node(
                        K("custom", Node(K("config"), K("needsNetwork"), K("pin"))),
                        K("tang", Node(K("thumbprint"), K("url"), K("advertisement", since: v34))),
                        K("threshold"), K("tpm2"))),
                    K("device"), K("keyFile", fileResource), K("label"), K("name"), K("options"), K("uuid"), K("wipeVolume"),
                    K("discard", since: v34), K("openOptions", since: v34),
                    K("cex", Node(K("enabled")), v35)), v32))),
            K("systemd", Node(
                K("units", Node(
                    K("name"), K("enabled"), K("mask"), K("contents"),
                    K("dropins", Node(K("name"), K("contents"))))))),
            K("passwd", Node(
                K("users", Node(
                    K("name"), K("passwordHash"), K("sshAuthorizedKeys"), K("uid"), K("gecos"), K("homeDir"), K("noCreateHome"),
                    K("primaryGroup"), K("groups"), K("noUserGroup"), K("noLogInit"), K("shell"), K("system"),
                    K("shouldExist", since: v32))),
                K("groups", Node(K("name"), K("gid"), K("passwordHash"), K("system"), K("shouldExist", since: v32))))),
            K("kernelArguments", Node(K("shouldExist"), K("shouldNotExist")), v33));
    }
}
