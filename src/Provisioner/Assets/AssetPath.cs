namespace Provisioner.Assets;

/// <summary>Outcome of mapping a request path onto the asset root.</summary>
internal abstract record AssetLookup
{
    private AssetLookup() { }

    /// <summary>A regular file whose real path (and every directory on the way) lies inside the root.</summary>
    public sealed record Found(FileInfo File) : AssetLookup;

    /// <summary>The request path itself is unacceptable (traversal, NUL, backslash …): 400.</summary>
    public sealed record Rejected(string Reason) : AssetLookup;

    /// <summary>Nothing servable there (missing, directory, hidden, escapes the root): 404.</summary>
    public sealed record NotFound(string Reason) : AssetLookup;
}

/// <summary>
/// Maps an untrusted, relative request path onto a file below the asset root. Two layers:
/// syntax (reject anything that could mean "elsewhere") and resolution (follow symlinks like
/// realpath(3) one segment at a time, and refuse as soon as a prefix leaves the real root).
/// </summary>
internal static class AssetPath
{
    private const int MaxSymlinkHops = 40; // same limit as Linux (ELOOP)

    public static AssetLookup Resolve(string root, string? relativePath)
    {
        if (Validate(relativePath) is { } problem) return problem;
        return Locate(root, Decode(relativePath!).Split('/'));
    }

    /// <summary>Syntax checks only; returns null when the path may be looked up.</summary>
    internal static AssetLookup? Validate(string? relativePath)
    {
        if (string.IsNullOrEmpty(relativePath)) return new AssetLookup.NotFound("no asset path given");
        // Routing leaves %2F (and anything double-encoded) in the value; decode once more so an
        // encoded separator or dot can never slip past the segment checks below.
        var path = Decode(relativePath);
        if (path.Contains('\0')) return new AssetLookup.Rejected("NUL byte in path");
        if (path.Any(char.IsControl)) return new AssetLookup.Rejected("control character in path");
        if (path.Contains('\\')) return new AssetLookup.Rejected("backslash in path");
        if (path.StartsWith('/')) return new AssetLookup.Rejected("absolute path");
        if (path.EndsWith('/')) return new AssetLookup.NotFound("directory listings are not served");

        foreach (var segment in path.Split('/'))
        {
            if (segment.Length == 0) return new AssetLookup.Rejected("empty path segment");
            if (segment is "." or "..") return new AssetLookup.Rejected("dot segment in path");
        }
        foreach (var segment in path.Split('/'))
        {
            if (segment.StartsWith('.')) return new AssetLookup.NotFound("hidden files are not served");
        }
        return null;
    }

    private static string Decode(string path) => path.Contains('%') ? Uri.UnescapeDataString(path) : path;

    private static AssetLookup Locate(string root, string[] segments)
    {
        var realRoot = RealPath(Path.GetFullPath(root));
        var current = realRoot;
        try
        {
            foreach (var segment in segments)
            {
                // current is already canonical, so this only resolves the new segment (and any link chain it starts).
                current = RealPath(Path.Join(current, segment));
                if (!IsWithin(current, realRoot)) return new AssetLookup.NotFound("no such asset"); // do not reveal why
            }
        }
        catch (IOException)
        {
            return new AssetLookup.NotFound("no such asset"); // symlink loop, ENOTDIR, …
        }

        if (Directory.Exists(current)) return new AssetLookup.NotFound("directories are not served");
        var file = new FileInfo(current);
        return file.Exists ? new AssetLookup.Found(file) : new AssetLookup.NotFound("no such asset");
    }

    internal static bool IsWithin(string path, string root) =>
        path == root || path.StartsWith(root.EndsWith('/') ? root : root + "/", StringComparison.Ordinal);

    /// <summary>
    /// Canonical form of an absolute path with every symlink resolved, like realpath(3), except that a
    /// missing tail is allowed (it then simply does not exist). Managed, so no libc P/Invoke is needed.
    /// </summary>
    internal static string RealPath(string absolutePath)
    {
        var pending = new Stack<string>();
        PushComponents(pending, absolutePath);
        var current = "/";
        var hops = 0;
        while (pending.TryPop(out var part))
        {
            if (part is "" or ".") continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? "/";
                continue;
            }
            var candidate = Path.Join(current, part);
            var target = LinkTarget(candidate);
            if (target is null)
            {
                current = candidate;
                continue;
            }
            if (++hops > MaxSymlinkHops) throw new IOException($"too many levels of symbolic links at {candidate}");
            if (target.StartsWith('/')) current = "/";
            PushComponents(pending, target);
        }
        return current;
    }

    private static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null; // missing or unreadable: not a link we can follow; existence is checked at the end
        }
    }

    private static void PushComponents(Stack<string> pending, string path)
    {
        var parts = path.Split('/');
        for (var i = parts.Length - 1; i >= 0; i--) pending.Push(parts[i]);
    }
}
