namespace Provisioner.Tests.Support;

/// <summary>Locates the repository and the read-only <c>../shared/</c> data beside it.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Shared => Path.GetFullPath(Path.Combine(Root, "..", "shared"));

    /// <summary>A file from <c>../shared/</c>; fails with a clear message when it is missing.</summary>
    public static string SharedFile(string relative)
    {
        var path = Path.Combine(Shared, relative);
        if (!File.Exists(path))
            Assert.Fail($"Required shared data file is missing: {path}. The tests read ../shared/ beside the repository (see its README).");
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
