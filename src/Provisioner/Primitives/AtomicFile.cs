using System.Text;
using System.Text.Json;
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
        InFlight[temp] = 0;
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
            CrashInjection.Replace(temp, path);
        }
        catch
        {
            File.Delete(temp);
            throw;
        }
        finally
        {
            InFlight.TryRemove(temp, out _);
        }
    }

    // Temp files and journals this process is writing right now: a recovery running meanwhile (a re-render while the
    // machine state is being saved) must not take them for a crashed writer's leftovers.
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, byte> InFlight = new(StringComparer.Ordinal);

    /// <summary>
    /// Writes files that are only valid together (a CA's key and its certificate) so that a crash at any point leaves
    /// either none of them changed or all of them: a journal holding every new content is written atomically first,
    /// then each file is replaced, then the journal is removed. <see cref="RecoverAsync"/> replays a journal that a
    /// crash left behind. All files must be in one directory.
    /// </summary>
    public static async Task WriteTogetherAsync(IReadOnlyList<FileContent> files, CancellationToken ct)
    {
        if (files.Count == 0) return;
        var dirs = files.Select(f => Path.GetDirectoryName(Path.GetFullPath(f.Path))!).Distinct(StringComparer.Ordinal).ToList();
        if (dirs.Count != 1) throw new ArgumentException("Files written together must be in one directory: " + string.Join(", ", dirs), nameof(files));
        var journal = Path.Combine(dirs[0], $".{Path.GetFileName(files[0].Path)}{JournalSuffix}");
        var entries = files.Select(f => new JournalEntry(Path.GetFileName(f.Path), f.Content, (int)f.Mode)).ToList();
        if (!InFlight.TryAdd(journal, 0)) throw new InvalidOperationException($"{files[0].Path} is being written together with other files already.");
        try
        {
            // The journal may hold a private key: private whatever the files' modes.
            await WriteAsync(journal, JsonSerializer.Serialize(entries, JournalJson), PrivateMode, ct);
            await ApplyJournalAsync(journal, entries, ct);
        }
        finally
        {
            InFlight.TryRemove(journal, out _);
        }
    }

    /// <summary>
    /// Makes <paramref name="root"/> consistent after a crash: finishes every interrupted <see cref="WriteTogetherAsync"/>
    /// and deletes temp files. Call before reading files written together.
    /// </summary>
    public static async Task RecoverAsync(string root, CancellationToken ct)
    {
        if (!Directory.Exists(root)) return;
        foreach (var journal in Directory.EnumerateFiles(root, "*" + JournalSuffix, SearchOption.AllDirectories).ToList())
        {
            if (!Path.GetFileName(journal).StartsWith('.') || !InFlight.TryAdd(journal, 0)) continue;
            try
            {
                await ReplayAsync(journal, ct);
            }
            finally
            {
                InFlight.TryRemove(journal, out _);
            }
        }
        RemoveStaleTemporaries(root);
    }

    private static async Task ReplayAsync(string journal, CancellationToken ct)
    {
        List<JournalEntry>? entries;
        try
        {
            entries = JsonSerializer.Deserialize<List<JournalEntry>>(await File.ReadAllTextAsync(journal, ct), JournalJson);
        }
        catch (FileNotFoundException)
        {
            return; // another process finished it meanwhile
        }
        catch (JsonException e)
        {
            // Journals are written atomically, so this is not a torn write: someone else's file or damage.
            throw new IOException($"{journal}: not a journal of files written together ({e.Message}); inspect and remove it.", e);
        }
        if (entries is null || entries.Any(e => e.Name.Contains('/') || e.Name is "" or "." or ".."))
            throw new IOException($"{journal}: not a journal of files written together; inspect and remove it.");
        await ApplyJournalAsync(journal, entries, ct);
    }

    private const string JournalSuffix = ".together";
    private static readonly JsonSerializerOptions JournalJson = new(JsonSerializerDefaults.Web);

    private static async Task ApplyJournalAsync(string journal, IReadOnlyList<JournalEntry> entries, CancellationToken ct)
    {
        var dir = Path.GetDirectoryName(journal)!;
        foreach (var entry in entries)
            await WriteAsync(Path.Combine(dir, entry.Name), entry.Content, (UnixFileMode)entry.Mode, ct);
        File.Delete(journal);
    }

    /// <summary>
    /// Deletes temp files a crashed writer left behind below <paramref name="root"/>; they may hold private keys.
    /// Only names this class creates are matched.
    /// </summary>
    public static void RemoveStaleTemporaries(string root)
    {
        if (!Directory.Exists(root)) return;
        foreach (var file in Directory.EnumerateFiles(root, ".*.tmp", SearchOption.AllDirectories))
            if (TempName().IsMatch(Path.GetFileName(file)) && !InFlight.ContainsKey(file))
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

/// <summary>One file of an <see cref="AtomicFile.WriteTogetherAsync"/>.</summary>
internal sealed record FileContent(string Path, string Content, UnixFileMode Mode);

internal sealed record JournalEntry(string Name, string Content, int Mode);
