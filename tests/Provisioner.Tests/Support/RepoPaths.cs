namespace Provisioner.Tests.Support;

/// <summary>Locates the repository and the read-only <c>../shared/</c> data beside it.</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Shared => Path.GetFullPath(Path.Combine(Root, "..", "shared"));

    /// <summary>
    /// A file from <c>../shared/</c>. A fresh clone has no <c>../shared/</c>: there the test is skipped with
    /// what is missing; under CI, which always has it, a missing file fails the test.
    /// </summary>
    public static string SharedFile(string relative)
    {
        var path = Path.Combine(Shared, relative);
        if (!File.Exists(path))
            Requires.Unavailable($"../shared/{Path.GetDirectoryName(relative)} not present ({path} is missing; CI provides ../shared beside the repository)");
        return path;
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Provisioner.sln")))
            dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException("Provisioner.sln not found above " + AppContext.BaseDirectory);
    }
}
