using System.Text;
using System.Text.RegularExpressions;

namespace Provisioner.Primitives;

/// <summary>Writes whole files so that readers see the old or the new content, never a half-written one.</summary>
internal static partial class AtomicFile
{
    public const UnixFileMode PrivateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    public const UnixFileMode PublicMode = PrivateMode | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static async Task WriteAsync(string path, string content, UnixFileMode mode, CancellationToken ct)
    {
        // The provisioner runs on Linux; file modes are part of the security contract, so no silent fallback.
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("PKI files need Unix file modes.");
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        Directory.CreateDirectory(dir, DirectoryMode);
        // Same directory, so the rename cannot cross file systems; created with the final mode, so a
        // private key is never readable by others, not even for an instant.
        var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.{Guid.NewGuid():N}.tmp");
        try
        {
            var options = new FileStreamOptions
            {
                Mode = FileMode.CreateNew,
                Access = FileAccess.Write,
                Options = FileOptions.Asynchronous,
                UnixCreateMode = mode,
            };
            await using (var stream = new FileStream(temp, options))
            {
                await stream.WriteAsync(Encoding.UTF8.GetBytes(content), ct);
                stream.Flush(flushToDisk: true);
            }
            File.SetUnixFileMode(temp, mode); // the umask may have masked bits of UnixCreateMode
            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
    }

    /// <summary>
    /// Deletes temp files a crashed writer left behind below <paramref name="root"/>; they may hold private keys.
    /// Only names this class creates are matched.
    /// </summary>
    public static void RemoveStaleTemporaries(string root)
    {
        if (!Directory.Exists(root)) return;
        foreach (var file in Directory.EnumerateFiles(root, ".*.tmp", SearchOption.AllDirectories))
            if (TempName().IsMatch(Path.GetFileName(file)))
                File.Delete(file);
    }

    [GeneratedRegex(@"^\..+\.[0-9a-f]{32}\.tmp$")]
    private static partial Regex TempName();

    /// <summary>Tightens a file's mode without rewriting it (mtime stays, content stays).</summary>
    public static void EnsureMode(string path, UnixFileMode mode)
    {
        if (OperatingSystem.IsWindows()) throw new PlatformNotSupportedException("PKI files need Unix file modes.");
        if (File.GetUnixFileMode(path) != mode) File.SetUnixFileMode(path, mode);
    }
}
