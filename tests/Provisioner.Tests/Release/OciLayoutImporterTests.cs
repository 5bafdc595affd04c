using Provisioner.Release;
using Provisioner.Tests.Registry;
using Provisioner.Primitives;

namespace Provisioner.Tests.Release;

public sealed class OciLayoutImporterTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("provisioner-import-");
    private readonly ContentStore _store;
    private readonly ImageRepositories _repositories;

    public OciLayoutImporterTests()
    {
        _store = new ContentStore(Path.Combine(_work.FullName, "store"));
        _repositories = new ImageRepositories(_store);
    }

    public void Dispose() => _work.Delete(recursive: true);

    private string Dir(string name) => Path.Combine(_work.FullName, name);

    private Task<ImageImportResult> Import(string source, string name = "library/pause", string tag = "3.10", string? sourceRef = null) =>
        new OciLayoutImporter(_repositories).ImportAsync(source, name, tag, sourceRef, Ct);

    [Fact]
    public async Task Every_blob_of_the_image_lands_in_the_store_under_its_digest()
    {
        var b = new OciLayoutBuilder();
        var image = b.Image("amd64", "hello");
        var layout = b.WriteLayout(Dir("layout"), ("3.10", image.Manifest));

        await Import(layout);

        foreach (var d in new[] { image.Layer, image.Config, image.Manifest })
            Assert.Equal(d.Content, await File.ReadAllBytesAsync(Path.Combine(_store.Root, "blobs", "sha256", d.Digest["sha256:".Length..]), Ct));
    }

    [Fact]
    public async Task The_tag_maps_to_the_manifest_digest_with_its_media_type()
    {
        var b = new OciLayoutBuilder();
        var image = b.Image("amd64", "hello");
        var result = await Import(b.WriteLayout(Dir("layout"), ("x", image.Manifest)));

        var repo = await _repositories.FindAsync("library/pause", Ct);
        Assert.Equal(image.Manifest.Digest, result.Digest.ToString());
        Assert.Equal(image.Manifest.Digest, repo!.Tags["3.10"]);
        Assert.Equal(OciLayoutBuilder.OciManifest, repo.Manifests[image.Manifest.Digest]);
        Assert.Equal(new[] { image.Config.Digest, image.Layer.Digest, image.Manifest.Digest }.Order(StringComparer.Ordinal), repo.Blobs.Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_multi_arch_index_is_imported_with_every_child_manifest()
    {
        var b = new OciLayoutBuilder();
        var amd = b.Image("amd64", "x86");
        var arm = b.Image("arm64", "arm");
        var index = b.Index(amd, arm);

        var result = await Import(b.WriteLayout(Dir("layout"), ("multi", index)));

        var repo = await _repositories.FindAsync("library/pause", Ct);
        Assert.Equal((index.Digest, OciLayoutBuilder.OciIndex, 3), (result.Digest.ToString(), result.MediaType, result.Manifests));
        Assert.Equal(OciLayoutBuilder.OciManifest, repo!.Manifests[arm.Manifest.Digest]);
        Assert.True(_store.Contains(Digest.Parse(arm.Layer.Digest)));
    }

    [Fact]
    public async Task A_corrupted_layer_is_refused_naming_the_blob_expected_and_actual_digest_and_no_tag_is_recorded()
    {
        var b = new OciLayoutBuilder();
        var image = b.Image("amd64", "hello");
        var layout = b.WriteLayout(Dir("layout"), ("3.10", image.Manifest));
        var layerFile = Path.Combine(layout, "blobs", "sha256", image.Layer.Digest["sha256:".Length..]);
        var bytes = await File.ReadAllBytesAsync(layerFile, Ct);
        bytes[^1] ^= 0xff;
        await File.WriteAllBytesAsync(layerFile, bytes, Ct);

        var e = await Assert.ThrowsAsync<ReleaseException>(() => Import(layout));

        Assert.Contains($"blob {image.Layer.Digest}", e.Message);
        Assert.Contains($"expected {image.Layer.Digest["sha256:".Length..]}, got {OciLayoutBuilder.Sha256(bytes)["sha256:".Length..]}", e.Message);
        Assert.Null(await _repositories.FindAsync("library/pause", Ct));
        Assert.False(_store.Contains(Digest.Parse(image.Layer.Digest)));
        Assert.Empty(Directory.EnumerateFiles(_store.TempDirectory));
    }

    [Fact]
    public async Task A_missing_blob_is_an_error_naming_it()
    {
        var b = new OciLayoutBuilder();
        var image = b.Image("amd64", "hello");
        var layout = b.WriteLayout(Dir("layout"), ("3.10", image.Manifest));
        File.Delete(Path.Combine(layout, "blobs", "sha256", image.Config.Digest["sha256:".Length..]));

        var e = await Assert.ThrowsAsync<ReleaseException>(() => Import(layout));

        Assert.Contains($"blob {image.Config.Digest}", e.Message);
        Assert.Contains("missing", e.Message);
    }

    [Fact]
    public async Task A_tar_archive_of_a_layout_imports_like_the_directory()
    {
        var b = new OciLayoutBuilder();
        var image = b.Image("amd64", "hello");
        OciLayoutBuilder.TarLayout(b.WriteLayout(Dir("layout"), ("3.10", image.Manifest)), Dir("image.tar"));

        var result = await Import(Dir("image.tar"));

        Assert.Equal(image.Manifest.Digest, result.Digest.ToString());
        Assert.Empty(Directory.EnumerateFileSystemEntries(_store.TempDirectory));
    }

    [Fact]
    public async Task A_layout_with_several_images_needs_the_ref_to_choose_one()
    {
        var b = new OciLayoutBuilder();
        var one = b.Image("amd64", "one");
        var two = b.Image("amd64", "two");
        var layout = b.WriteLayout(Dir("layout"), ("one", one.Manifest), ("two", two.Manifest));

        var e = await Assert.ThrowsAsync<ReleaseException>(() => Import(layout));
        var result = await Import(layout, sourceRef: "two");

        Assert.Contains("choose one with --ref (names: one, two)", e.Message);
        Assert.Equal(two.Manifest.Digest, result.Digest.ToString());
    }

    [Fact]
    public async Task Importing_a_second_tag_keeps_the_first()
    {
        var b = new OciLayoutBuilder();
        var one = b.Image("amd64", "one");
        var two = b.Image("amd64", "two");
        await Import(b.WriteLayout(Dir("a"), ("x", one.Manifest)), tag: "1");
        await Import(b.WriteLayout(Dir("b"), ("x", two.Manifest)), tag: "2");

        var repo = await _repositories.FindAsync("library/pause", Ct);

        Assert.Equal(new Dictionary<string, string> { ["1"] = one.Manifest.Digest, ["2"] = two.Manifest.Digest }, repo!.Tags);
    }

    [Theory]
    [InlineData("Library/pause")]
    [InlineData("library//pause")]
    [InlineData("-pause")]
    [InlineData("pause/")]
    public void Repository_names_outside_the_spec_grammar_are_invalid(string name) =>
        Assert.False(ImageNames.IsValidName(name));

    [Theory]
    [InlineData("k8s/kube-apiserver")]
    [InlineData("library/pause")]
    [InlineData("a.b__c-d/e")]
    public void Repository_names_with_slashes_are_valid(string name) =>
        Assert.True(ImageNames.IsValidName(name));
}
