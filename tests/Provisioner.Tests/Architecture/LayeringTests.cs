using System.Text.RegularExpressions;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Architecture;

/// <summary>
/// The folders of src/Provisioner are layered, bottom to top: primitives → domain → rendering → services →
/// composition (README, "Architecture"). A file may use its own folder, any folder of a lower tier and, within
/// its tier, folders that do not use it back; nothing runs upward and no two folders use each other.
/// </summary>
public sealed partial class LayeringTests
{
    /// <summary>Every folder and its tier. A new folder must be placed here, deliberately.</summary>
    private static readonly IReadOnlyDictionary<string, int> Tiers = new Dictionary<string, int>
    {
        // 0 — shared primitives: files, HTTP text results, settings errors, logging and metrics.
        ["Primitives"] = 0, ["Observability"] = 0,
        // 1 — domain: what the operator wrote and what the cluster is made of.
        ["Profiles"] = 1, ["Pki"] = 1, ["Tokens"] = 1, ["Ignition"] = 1, ["Inventory"] = 1,
        // 2 — rendering: cluster files, templates → Ignition, the current catalog and its rendered cluster.
        ["Cluster"] = 2, ["Rendering"] = 2, ["Catalog"] = 2,
        // 3 — services: what machines and operators talk to.
        ["Assets"] = 3, ["Release"] = 3, ["Registry"] = 3, ["Boot"] = 3, ["Approval"] = 3, ["Pxe"] = 3,
        ["Api"] = 3, ["WebConsole"] = 3,
        // 4 — composition: the server and the command line.
        ["Hosting"] = 4, ["Cli"] = 4,
    };

    private static string SourceRoot => Path.Combine(RepoPaths.Root, "src", "Provisioner");

    private static IEnumerable<(string RelativePath, string Text)> Sources() =>
        Directory.EnumerateFiles(SourceRoot, "*.cs", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(SourceRoot, f).Replace('\\', '/'))
            .Where(f => !f.StartsWith("bin/", StringComparison.Ordinal) && !f.StartsWith("obj/", StringComparison.Ordinal) && f.Contains('/'))
            .Select(f => (f, File.ReadAllText(Path.Combine(SourceRoot, f))));

    [Fact]
    public void Every_folder_has_a_tier()
    {
        var unplaced = Directory.EnumerateDirectories(SourceRoot).Select(d => Path.GetFileName(d)!)
            .Where(d => d is not ("bin" or "obj") && !Tiers.ContainsKey(d)).ToList();
        Assert.Empty(unplaced);
    }

    [Fact]
    public void Every_file_declares_the_namespace_of_its_folder()
    {
        var wrong = Sources()
            .Select(s => (s.RelativePath, Namespace: NamespaceDeclaration().Match(s.Text).Groups[1].Value))
            .Where(s => s.Namespace != "Provisioner." + string.Join('.', s.RelativePath.Split('/')[..^1]))
            .Select(s => $"{s.RelativePath}: namespace {s.Namespace}");
        Assert.Empty(wrong);
    }

    [Fact]
    public void No_file_uses_a_folder_of_a_higher_tier()
    {
        Assert.Empty(UpwardReferences(Sources()));
    }

    [Fact]
    public void No_two_folders_use_each_other_even_indirectly()
    {
        Assert.Empty(Cycles(Sources()));
    }

    [Fact]
    public void An_upward_using_is_reported_with_its_file_and_line()
    {
        var sources = new[]
        {
            ("Profiles/ProfileLoader.cs", "using System;\nusing Provisioner.Hosting;\n\nnamespace Provisioner.Profiles;\n"),
            ("Boot/IpxeScripts.cs", "namespace Provisioner.Boot;\nclass C { Provisioner.Cli.Settings? s; }\n"),
            ("Hosting/ProvisionerServer.cs", "using Provisioner.Boot;\nnamespace Provisioner.Hosting;\n"),
        };

        Assert.Equal(
            ["Profiles/ProfileLoader.cs:2: Profiles (tier 1) uses Hosting (tier 4)", "Boot/IpxeScripts.cs:2: Boot (tier 3) uses Cli (tier 4)"],
            UpwardReferences(sources));
    }

    [Fact]
    public void Two_folders_of_one_tier_that_use_each_other_are_a_cycle()
    {
        var sources = new[]
        {
            ("Boot/A.cs", "using Provisioner.Release;\nnamespace Provisioner.Boot;\n"),
            ("Release/B.cs", "using Provisioner.Boot;\nnamespace Provisioner.Release;\n"),
        };

        Assert.Equal(["Boot → Release → Boot"], Cycles(sources));
    }

    private static List<string> UpwardReferences(IEnumerable<(string RelativePath, string Text)> sources)
    {
        var problems = new List<string>();
        foreach (var (path, text) in sources)
        {
            var folder = path.Split('/')[0];
            var tier = Tiers.GetValueOrDefault(folder, -1);
            foreach (var (used, line) in References(text))
            {
                if (used == folder || !Tiers.TryGetValue(used, out var usedTier) || usedTier <= tier) continue;
                problems.Add($"{path}:{line}: {folder} (tier {tier}) uses {used} (tier {usedTier})");
            }
        }
        return problems;
    }

    private static List<string> Cycles(IEnumerable<(string RelativePath, string Text)> sources)
    {
        var edges = new Dictionary<string, SortedSet<string>>(StringComparer.Ordinal);
        foreach (var (path, text) in sources)
        {
            var folder = path.Split('/')[0];
            foreach (var (used, _) in References(text))
                if (used != folder) (edges.TryGetValue(folder, out var set) ? set : edges[folder] = new(StringComparer.Ordinal)).Add(used);
        }

        var cycles = new List<string>();
        var done = new HashSet<string>(StringComparer.Ordinal);
        var stack = new List<string>();
        void Visit(string node)
        {
            var at = stack.IndexOf(node);
            if (at >= 0) { cycles.Add(string.Join(" → ", stack.Skip(at).Append(node))); return; }
            if (!done.Add(node)) return;
            stack.Add(node);
            foreach (var next in edges.GetValueOrDefault(node) ?? []) Visit(next);
            stack.RemoveAt(stack.Count - 1);
        }
        foreach (var node in edges.Keys.Order(StringComparer.Ordinal)) Visit(node);
        return cycles;
    }

    /// <summary>Folders a file names: <c>using Provisioner.X</c> (plain, static or alias) and <c>Provisioner.X.</c> in code.</summary>
    private static IEnumerable<(string Folder, int Line)> References(string text)
    {
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i];
            var code = line.TrimStart();
            if (code.StartsWith("//", StringComparison.Ordinal) || code.StartsWith("namespace ", StringComparison.Ordinal)) continue;
            foreach (Match m in QualifiedReference().Matches(line)) yield return (m.Groups[1].Value, i + 1);
        }
    }

    [GeneratedRegex(@"(?<![\w.])Provisioner\.(\w+)\b(?=[.;])")]
    private static partial Regex QualifiedReference();

    [GeneratedRegex(@"^namespace\s+([\w.]+)\s*;", RegexOptions.Multiline)]
    private static partial Regex NamespaceDeclaration();
}
