namespace Provisioner.Tests.Support;

/// <summary>
/// A throw-away copy of the bundled example profiles and templates in a temp directory, which a test
/// may edit. Deleted on dispose.
/// </summary>
public sealed class ProfileTree : IDisposable
{
    public ProfileTree()
    {
        Root = Directory.CreateTempSubdirectory("provisioner-test-").FullName;
        CopyDirectory(Path.Combine(RepoPaths.Root, "profiles"), Profiles);
        CopyDirectory(Path.Combine(RepoPaths.Root, "ignition-templates"), Templates);
        Directory.CreateDirectory(Assets);
    }

    public string Root { get; }
    public string Profiles => Path.Combine(Root, "profiles");
    public string Templates => Path.Combine(Root, "ignition-templates");
    public string Assets => Path.Combine(Root, "assets");

    internal Provisioner.Profiles.ProfileSources Sources => new(Profiles, Templates);

    public string ProfileFile(string name) => Path.Combine(Profiles, name);

    /// <summary>Replaces text in a profile file; fails loudly if the text is not there.</summary>
    public void Edit(string file, string find, string replace)
    {
        var path = Path.Combine(Profiles, file);
        var text = File.ReadAllText(path);
        Assert.Contains(find, text);
        File.WriteAllText(path, text.Replace(find, replace, StringComparison.Ordinal));
    }

    /// <summary>
    /// The example machines without <c>installDisk</c>: they boot live from the network every time, so each /ipxe
    /// answer carries a ticketed Ignition URL (an installing machine's /ipxe boots its disk instead).
    /// </summary>
    public ProfileTree LiveBoot()
    {
        var path = Path.Combine(Profiles, "machines.yaml");
        File.WriteAllText(path, string.Join('\n', File.ReadAllText(path).Split('\n').Where(l => !l.TrimStart().StartsWith("installDisk:", StringComparison.Ordinal))));
        return this;
    }

    public void Write(string file, string contents) => File.WriteAllText(Path.Combine(Profiles, file), contents);

    /// <summary>
    /// The Ignition config the tree's templates render for <paramref name="machine"/> as they are now (no cluster
    /// material: what <c>provisioner validate</c> renders).
    /// </summary>
    internal Provisioner.Ignition.IgnitionConfig RenderIgnition(string machine, Uri baseUrl)
    {
        var profiles = Provisioner.Profiles.ProfileLoader.Load(Sources);
        return new Provisioner.Rendering.IgnitionRenderer(new Provisioner.Rendering.TextTemplates())
            .Render(Provisioner.Rendering.IgnitionTemplateSet.Load(Templates), profiles, profiles.FindMachine(machine)!, baseUrl);
    }

    public void WriteTemplate(string relative, string contents)
    {
        var path = Path.Combine(Templates, relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, contents);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var dir in Directory.EnumerateDirectories(from, "*", SearchOption.AllDirectories))
            Directory.CreateDirectory(Path.Combine(to, Path.GetRelativePath(from, dir)));
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
            File.Copy(file, Path.Combine(to, Path.GetRelativePath(from, file)));
    }

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
