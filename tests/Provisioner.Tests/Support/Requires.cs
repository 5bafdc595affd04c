namespace Provisioner.Tests.Support;

/// <summary>
/// Guards for tests that need a real program or privilege. On a developer machine a missing
/// prerequisite skips the test with the reason; under CI (CI=true) it fails, so CI cannot go green
/// by skipping what it was meant to run.
/// </summary>
internal static class Requires
{
    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Returns the full path of <paramref name="program"/> on PATH (or an absolute path that exists).</summary>
    public static string Program(string program, string? installHint = null)
    {
        var found = Which(program);
        if (found is not null) return found;
        Unavailable($"'{program}' is not installed{(installHint is null ? "" : $" (apt-get install {installHint})")}");
        return null!;
    }

    public static void Root()
    {
        if (Environment.UserName != "root" && !string.Equals(Environment.GetEnvironmentVariable("USER"), "root", StringComparison.Ordinal))
            Unavailable("this test needs root (network namespaces)");
    }

    public static void Condition(bool ok, string reason)
    {
        if (!ok) Unavailable(reason);
    }

    public static void Unavailable(string reason)
    {
        if (InCi) Assert.Fail($"CI must run this test, but {reason}. .ci/run should install it.");
        Assert.Skip(reason);
    }

    public static string? Which(string program)
    {
        if (Path.IsPathRooted(program)) return File.Exists(program) ? program : null;
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
                     .Concat(["/usr/sbin", "/sbin"]))
        {
            var candidate = Path.Combine(dir, program);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
