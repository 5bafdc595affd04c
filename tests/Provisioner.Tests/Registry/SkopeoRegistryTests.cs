using System.Text.Json;
using Provisioner.Tests.Support;
using Provisioner.Primitives;

namespace Provisioner.Tests.Registry;

/// <summary>A real registry client (skopeo) pulls from Provisioner's /v2/ over loopback http.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class SkopeoRegistryTests(RegistryFixture registry) : IClassFixture<RegistryFixture>, IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly Skopeo _skopeo = new();

    public void Dispose() => _skopeo.Dispose();

    private string Docker(string reference) => $"docker://{registry.Authority}/{reference}";

    /// <summary>The manifest descriptor skopeo wrote into the destination layout's index.json.</summary>
    private static string LayoutDigest(string layout)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(layout, "index.json")));
        return doc.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString()!;
    }

    private static byte[] LayoutBlob(string layout, string digest) =>
        File.ReadAllBytes(Path.Combine(layout, "blobs", "sha256", digest["sha256:".Length..]));

    [Fact]
    public async Task Skopeo_copies_an_image_by_tag_into_an_oci_layout_with_identical_digests()
    {
        var dest = Path.Combine(_skopeo.Work, "out");

        (await _skopeo.RunAsync(Ct, "copy", "--src-tls-verify=false", "--src-no-creds", Docker("library/pause:3.10"), $"oci:{dest}:3.10")).EnsureSuccess();

        Assert.Equal(registry.Pause.Manifest.Digest, LayoutDigest(dest));
        Assert.Equal(registry.Pause.Layer.Content, LayoutBlob(dest, registry.Pause.Layer.Digest));
        Assert.Equal(registry.Pause.Config.Content, LayoutBlob(dest, registry.Pause.Config.Digest));
    }

    [Fact]
    public async Task Skopeo_copies_a_whole_multi_arch_index_unchanged()
    {
        var dest = Path.Combine(_skopeo.Work, "all");

        (await _skopeo.RunAsync(Ct, "copy", "--all", "--src-tls-verify=false", "--src-no-creds", Docker("k8s/kube-apiserver:v1.31.2"), $"oci:{dest}:v1.31.2")).EnsureSuccess();

        Assert.Equal(registry.ApiServerIndex.Digest, LayoutDigest(dest));
        Assert.Equal(registry.ApiServerArm64.Layer.Content, LayoutBlob(dest, registry.ApiServerArm64.Layer.Digest));
    }

    [Fact]
    public async Task Skopeo_inspect_by_tag_reports_the_manifest_digest()
    {
        var result = (await _skopeo.RunAsync(Ct, "inspect", "--tls-verify=false", "--no-creds", Docker("library/pause:3.10"))).EnsureSuccess();

        using var doc = JsonDocument.Parse(result.Stdout);
        Assert.Equal(registry.Pause.Manifest.Digest, doc.RootElement.GetProperty("Digest").GetString());
        Assert.Equal("amd64", doc.RootElement.GetProperty("Architecture").GetString());
    }

    [Fact]
    public async Task Skopeo_inspect_by_digest_reports_the_same_image()
    {
        var result = (await _skopeo.RunAsync(Ct, "inspect", "--tls-verify=false", "--no-creds",
            Docker($"library/pause@{registry.Pause.Manifest.Digest}"))).EnsureSuccess();

        using var doc = JsonDocument.Parse(result.Stdout);
        Assert.Equal(registry.Pause.Manifest.Digest, doc.RootElement.GetProperty("Digest").GetString());
        Assert.Equal([registry.Pause.Layer.Digest], doc.RootElement.GetProperty("Layers").EnumerateArray().Select(l => l.GetString()));
    }

    [Theory]
    [InlineData("arm64")]
    [InlineData("amd64")]
    public async Task Skopeo_resolves_the_multi_arch_index_to_the_requested_architecture(string arch)
    {
        var expected = arch == "arm64" ? registry.ApiServerArm64 : registry.ApiServerAmd64;

        var result = (await _skopeo.RunAsync(Ct, "--override-arch", arch, "--override-os", "linux", "inspect", "--tls-verify=false", "--no-creds",
            Docker("k8s/kube-apiserver:v1.31.2"))).EnsureSuccess();

        using var doc = JsonDocument.Parse(result.Stdout);
        Assert.Equal(arch, doc.RootElement.GetProperty("Architecture").GetString());
        Assert.Equal([expected.Layer.Digest], doc.RootElement.GetProperty("Layers").EnumerateArray().Select(l => l.GetString()));
    }

    [Fact]
    public async Task Skopeo_copies_a_docker_schema2_image()
    {
        var dest = Path.Combine(_skopeo.Work, "docker");

        (await _skopeo.RunAsync(Ct, "copy", "--src-tls-verify=false", "--src-no-creds", Docker("docker/app:1"), $"dir:{dest}")).EnsureSuccess();

        Assert.Equal(registry.DockerApp.Manifest.Content, File.ReadAllBytes(Path.Combine(dest, "manifest.json")));
    }

    [Fact]
    public async Task Skopeo_resolves_a_docker_manifest_list_to_the_requested_architecture()
    {
        var result = (await _skopeo.RunAsync(Ct, "--override-arch", "arm64", "--override-os", "linux", "inspect", "--tls-verify=false", "--no-creds",
            Docker("docker/app:multi"))).EnsureSuccess();

        using var doc = JsonDocument.Parse(result.Stdout);
        Assert.Equal("arm64", doc.RootElement.GetProperty("Architecture").GetString());
    }

    [Fact]
    public async Task Skopeo_reports_an_unknown_tag_as_manifest_unknown()
    {
        var result = await _skopeo.RunAsync(Ct, "inspect", "--tls-verify=false", "--no-creds", Docker("library/pause:nope"));

        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("manifest unknown", result.Stderr, StringComparison.OrdinalIgnoreCase);
    }
}
