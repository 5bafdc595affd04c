using System.Diagnostics;

namespace Provisioner.Primitives;

/// <summary>
/// A test hook at the one place every file replacement goes through (<see cref="AtomicFile"/>), so crash tests can
/// kill the real process at each step of a render and check that the next start recovers.
/// <c>PROVISIONER_TEST_REPLACEMENT_LOG=FILE</c> appends the path of every replaced file to FILE;
/// <c>PROVISIONER_TEST_CRASH_AFTER_REPLACEMENTS=N</c> kills the process with SIGKILL right after the Nth replacement.
/// Unset (always, outside tests), a replacement is a plain rename.
/// </summary>
internal static class CrashInjection
{
    public const string LogVariable = "PROVISIONER_TEST_REPLACEMENT_LOG";
    public const string CrashAfterVariable = "PROVISIONER_TEST_CRASH_AFTER_REPLACEMENTS";

    private static readonly string? Log = Environment.GetEnvironmentVariable(LogVariable) is { Length: > 0 } log ? log : null;
    private static readonly int? CrashAfter = int.TryParse(Environment.GetEnvironmentVariable(CrashAfterVariable), out var n) && n > 0 ? n : null;
    private static readonly Lock Gate = new();
    private static int _replacements;

    private static bool Active => Log is not null || CrashAfter is not null;

    /// <summary>Renames <paramref name="temp"/> over <paramref name="path"/>, counting the replacement when the hook is on.</summary>
    public static void Replace(string temp, string path)
    {
        if (!Active)
        {
            File.Move(temp, path, overwrite: true);
            return;
        }
        // One replacement at a time, so "after the Nth" means exactly N files replaced, even with parallel writers.
        lock (Gate)
        {
            File.Move(temp, path, overwrite: true);
            _replacements++;
            if (Log is not null) File.AppendAllText(Log, path + "\n");
            if (_replacements == CrashAfter)
            {
                Process.GetCurrentProcess().Kill(); // SIGKILL: no finally blocks, no flushing, like kill -9
                Thread.Sleep(Timeout.Infinite);
            }
        }
    }
}
