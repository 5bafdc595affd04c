using Provisioner.Cli;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Release;

/// <summary>
/// The release commands that read the profiles take <c>--templates DIR</c> like <c>serve</c>, <c>validate</c> and
/// <c>render</c>: the profiles name their roles' templates, so they only load with the templates found (issue 11).
/// </summary>
public sealed class ReleaseTemplatesOptionTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly ProfileTree _tree = new();

    private string Store => Path.Combine(_tree.Root, "store");

    /// <summary>Where the templates are in these tests: not beside the profiles, where the default looks.</summary>
    private string ElsewhereTemplates => Path.Combine(_tree.Root, "elsewhere", "templates");

    public ReleaseTemplatesOptionTests()
    {
        _tree.Write("release.yaml", ReleaseYaml.Section([]));
        Directory.CreateDirectory(Path.GetDirectoryName(ElsewhereTemplates)!);
        Directory.Move(_tree.Templates, ElsewhereTemplates);
    }

    public void Dispose() => _tree.Dispose();

    private static Task<CliResult> RunAsync(params string[] args) => CliRun.RunAsync(args);

    [Fact]
    public async Task Release_status_reads_the_profiles_with_templates_from_another_directory()
    {
        var (exit, output, errors) = await RunAsync("release", "status", "--profiles", _tree.Profiles, "--templates", ElsewhereTemplates, "--store", Store);

        Assert.DoesNotContain("does not exist", errors);
        Assert.Contains("MISSING  image etcd registry.k8s.io/etcd@sha256:", output);
        Assert.Contains("release v1.31.2: 11 missing", output);
        Assert.Equal(1, exit);
    }

    [Fact]
    public async Task Release_sync_reads_the_profiles_with_templates_from_another_directory()
    {
        var (exit, output, errors) = await RunAsync("release", "sync", "--profiles", _tree.Profiles, "--templates", ElsewhereTemplates, "--store", Store);

        Assert.Equal("", errors);
        Assert.Contains("0 of 0 artifact(s)", output);
        Assert.Equal(0, exit);
    }

    [Fact]
    public async Task Release_import_images_reads_the_profiles_with_templates_from_another_directory()
    {
        var empty = Directory.CreateDirectory(Path.Combine(_tree.Root, "layouts")).FullName;

        var (exit, _, errors) = await RunAsync("release", "import-images", empty, "--profiles", _tree.Profiles, "--templates", ElsewhereTemplates, "--store", Store);

        // It gets as far as the images, which are not in the empty directory.
        Assert.DoesNotContain("does not exist", errors);
        Assert.Contains($"error: image etcd: no etcd/ or etcd.tar in {empty}", errors);
        Assert.Equal(1, exit);
    }

    [Fact]
    public async Task Without_templates_beside_the_profiles_the_release_commands_use_the_templates_shipped_with_provisioner()
    {
        var (exit, output, errors) = await RunAsync("release", "status", "--profiles", _tree.Profiles, "--store", Store);

        Assert.DoesNotContain("does not exist", errors);
        Assert.Contains("release v1.31.2: 11 missing", output); // read the profiles: exit 1 says images are missing
        Assert.Equal(1, exit);
    }
}
