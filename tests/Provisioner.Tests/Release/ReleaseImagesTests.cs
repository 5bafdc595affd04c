using System.Text.Json;
using Provisioner.Release;
using Provisioner.Tests.Registry;
using Provisioner.Tests.Support;
using Provisioner.Primitives;

namespace Provisioner.Tests.Release;

/// <summary>
/// Release images imported under their upstream names (<c>registry.k8s.io/pause</c>) are what the machines' mirror
/// configuration asks for: <c>&lt;provisioner&gt;/v2/registry.k8s.io/pause/manifests/&lt;digest&gt;</c>.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class ReleaseImagesTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly ProfileTree _tree = new();
    private TestImage _pause = null!;
    private RunningServer _server = null!;

    private string Store => Path.Combine(_tree.Root, "store");

    public async ValueTask InitializeAsync()
    {
        var b = new OciLayoutBuilder();
        _pause = b.Image("amd64", "pause");
        _tree.Write("release.yaml", ReleaseYaml.Section([]).Replace($"sha256:{ReleaseYaml.Hex("pause")}", _pause.Manifest.Digest));
        await new OciLayoutImporter(new ImageRepositories(new ContentStore(Store)))
            .ImportAsync(b.WriteLayout(Path.Combine(_tree.Root, "pause"), ("3.10", _pause.Manifest)), "registry.k8s.io/pause", "3.10", null, Ct);
        _server = await RunningServer.StartAsync(_tree, o => o with { StoreDirectory = Store });
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _tree.Dispose();
    }

    [Fact]
    public async Task The_release_status_says_which_images_are_in_the_registry()
    {
        using var doc = JsonDocument.Parse(await _server.Client.GetStringAsync("/api/v1/release", Ct));

        var present = doc.RootElement.GetProperty("release").GetProperty("images").EnumerateArray()
            .ToDictionary(i => i.GetProperty("component").GetString()!, i => i.GetProperty("present").GetBoolean());
        Assert.True(present["pause"]);
        Assert.False(present["kube-apiserver"]);
    }

    [Fact]
    public async Task Release_status_lists_what_is_present_and_exits_1_while_something_is_missing()
    {
        var stdout = new StringWriter();

        var exit = await Provisioner.Cli.CommandLine.InvokeAsync(["release", "status", "--profiles", _tree.Profiles, "--store", Store],
            stdout, new StringWriter(), _ => null, Ct);

        Assert.Equal(1, exit);
        Assert.Contains($"present  image pause registry.k8s.io/pause@{_pause.Manifest.Digest}\n", stdout.ToString());
        Assert.Contains($"MISSING  image etcd registry.k8s.io/etcd@sha256:{ReleaseYaml.Hex("etcd")}\n", stdout.ToString());
        Assert.Contains("release v1.31.2: 10 missing", stdout.ToString());
    }

    [Fact]
    public async Task Skopeo_pulls_a_release_image_by_digest_at_the_path_the_mirror_configuration_uses()
    {
        using var skopeo = new Skopeo();

        var result = (await skopeo.RunAsync(Ct, "inspect", "--tls-verify=false", "--no-creds",
            $"docker://127.0.0.1:{_server.BaseAddress.Port}/registry.k8s.io/pause@{_pause.Manifest.Digest}")).EnsureSuccess();

        using var doc = JsonDocument.Parse(result.Stdout);
        Assert.Equal(_pause.Manifest.Digest, doc.RootElement.GetProperty("Digest").GetString());
    }
}
