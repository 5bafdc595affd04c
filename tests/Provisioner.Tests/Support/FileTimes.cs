namespace Provisioner.Tests.Support;

/// <summary>
/// Backdates files, so that "nothing was rewritten" shows in the mtime at once instead of after a sleep past the
/// file system's timestamp resolution.
/// </summary>
internal static class FileTimes
{
    public static readonly TimeSpan Back = TimeSpan.FromHours(1);

    public static void Age(string file) => File.SetLastWriteTimeUtc(file, DateTime.UtcNow - Back);

    public static void AgeEveryFile(string dir)
    {
        foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)) Age(file);
    }
}
