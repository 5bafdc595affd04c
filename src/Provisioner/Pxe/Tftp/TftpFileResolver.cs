namespace Provisioner.Pxe.Tftp;

/// <summary>Outcome of mapping a requested name to a file: either a file or a TFTP error to send.</summary>
internal sealed record TftpResolution(FileInfo? File, TftpErrorCode Error, string Message)
{
    public static TftpResolution Found(FileInfo file) => new(file, default, "");
    public static TftpResolution Refused(TftpErrorCode code, string message) => new(null, code, message);
}

/// <summary>
/// Maps a client-supplied file name onto the configured roots without ever leaving them.
/// The name is split on '/' and '\' (Windows-style PXE configs use backslashes), a leading separator is
/// dropped, and any ".." segment is refused outright. Every symlink on the way is resolved, and the real path
/// must still be inside the root's real path — so a symlink pointing out of the root is refused, not followed.
/// </summary>
internal sealed class TftpFileResolver
{
    private const int MaxSymlinkHops = 40; // same bound as Linux's ELOOP
    private readonly IReadOnlyList<string> _realRoots;
    private readonly IReadOnlyDictionary<string, string> _files;

    public TftpFileResolver(IReadOnlyList<string> roots, IReadOnlyDictionary<string, string> files)
    {
        // Roots that do not exist are skipped rather than fatal: the iPXE package may simply not be installed.
        _realRoots = roots.Select(r => RealPath(Path.GetFullPath(r))).OfType<string>().Where(Directory.Exists).ToList();
        _files = files.ToDictionary(f => string.Join('/', Segments(f.Key)), f => f.Value, StringComparer.Ordinal);
    }

    public TftpResolution Resolve(string requested)
    {
        var segments = Segments(requested);
        if (segments.Contains(".."))
            return TftpResolution.Refused(TftpErrorCode.AccessViolation, "access violation: '..' is not allowed");
        if (segments.Count == 0)
            return TftpResolution.Refused(TftpErrorCode.FileNotFound, "file not found");

        var relative = string.Join('/', segments);
        foreach (var root in _realRoots)
        {
            var real = RealPath(Path.Join(root, relative));
            if (real is null) continue; // not in this root; try the next one
            if (!IsInside(real, root))
                return TftpResolution.Refused(TftpErrorCode.AccessViolation, "access violation: path leaves the TFTP root");
            if (File.Exists(real)) return TftpResolution.Found(new FileInfo(real));
        }
        // Published files are trusted operator configuration, so their symlinks are followed wherever they lead.
        // FileInfo must see the real file, though: on a symlink it reports the link's own length.
        if (_files.TryGetValue(relative, out var published) && RealPath(Path.GetFullPath(published)) is { } target
            && File.Exists(target))
            return TftpResolution.Found(new FileInfo(target));
        return TftpResolution.Refused(TftpErrorCode.FileNotFound, "file not found");
    }

    private static List<string> Segments(string name) =>
        name.Split(['/', '\\'], StringSplitOptions.RemoveEmptyEntries).Where(s => s != ".").ToList();

    private static bool IsInside(string path, string root) =>
        root == "/" || path == root || path.StartsWith(root + "/", StringComparison.Ordinal);

    /// <summary>Like realpath(3): the absolute path with every symlink resolved, or null if it does not exist.</summary>
    internal static string? RealPath(string absolutePath)
    {
        int hops = 0;
        return RealPath(absolutePath, ref hops);
    }

    private static string? RealPath(string absolutePath, ref int hops)
    {
        var parts = absolutePath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var current = "/";
        for (int i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            if (part == ".") continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? "/";
                continue;
            }
            var next = Path.Join(current, part);
            var target = new FileInfo(next).LinkTarget;
            if (target is null)
            {
                if (!Path.Exists(next)) return null;
                current = next;
                continue;
            }
            if (++hops > MaxSymlinkHops) return null;
            var rest = string.Join('/', parts[(i + 1)..]);
            var joined = Path.IsPathRooted(target) ? target : Path.Join(current, target);
            return RealPath(Path.Join(joined, rest), ref hops);
        }
        return current;
    }
}
