using System.Collections.Immutable;

namespace Provisioner.Rendering;

/// <summary>One template directory: its <c>config.yaml</c> and the files it may reference by name.</summary>
internal sealed record IgnitionTemplate(string Name, string Directory, string ConfigText, ImmutableDictionary<string, string> Files)
{
    public string ConfigPath => Path.Combine(Directory, "config.yaml");
}

/// <summary>
/// Every template directory below <c>ignition-templates/</c>, read into memory at once so that a reload
/// swaps profiles and templates together and a request never sees a half-edited set.
/// </summary>
internal sealed record IgnitionTemplateSet(string Root, ImmutableDictionary<string, IgnitionTemplate> Templates)
{
    public const long MaxFileBytes = 4 * 1024 * 1024;

    public static IgnitionTemplateSet Load(string root)
    {
        root = Path.GetFullPath(root);
        var templates = ImmutableDictionary.CreateBuilder<string, IgnitionTemplate>(StringComparer.Ordinal);
        if (!System.IO.Directory.Exists(root)) return new IgnitionTemplateSet(root, templates.ToImmutable());
        foreach (var dir in System.IO.Directory.EnumerateDirectories(root).Order(StringComparer.Ordinal))
        {
            var config = Path.Combine(dir, "config.yaml");
            if (!File.Exists(config)) continue;
            var files = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
            foreach (var file in System.IO.Directory.EnumerateFiles(dir))
            {
                var name = Path.GetFileName(file);
                if (name == "config.yaml" || name.StartsWith('.')) continue;
                var info = new FileInfo(file);
                if (info.Length > MaxFileBytes)
                    throw new TemplateException(file, $"template file is larger than {MaxFileBytes} bytes; serve big files from the assets directory instead");
                files[name] = File.ReadAllText(file);
            }
            var name0 = Path.GetFileName(dir);
            templates[name0] = new IgnitionTemplate(name0, dir, File.ReadAllText(config), files.ToImmutable());
        }
        return new IgnitionTemplateSet(root, templates.ToImmutable());
    }
}
