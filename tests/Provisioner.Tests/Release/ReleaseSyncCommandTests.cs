using System.Security.Cryptography;
using System.Text.Json;
using Provisioner.Cli;
using Provisioner.Tests.Support;
using Provisioner.Primitives;

namespace Provisioner.Tests.Release;

/// <summary><c>provisioner release sync</c> and the background sync under <c>serve</c>, against a loopback origin.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class ReleaseSyncCommandTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly ProfileTree _tree = new();
    private readonly byte[] _kernel = RandomNumberGenerator.GetBytes(500_000);
    private readonly byte[] _initramfs = RandomNumberGenerator.GetBytes(300_000);
    private TestOrigin _origin = null!;

    private string Store => Path.Combine(_tree.Root, "store");
    private static string Hex(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    public async ValueTask InitializeAsync()
    {
        _origin = await TestOrigin.StartAsync(Ct);
        _origin.Add("kernel", _kernel);
        _origin.Add("initramfs", _initramfs);
        _tree.Write("release.yaml", ReleaseYaml.Section([
            ("fcos/kernel", _origin.Url("kernel").AbsoluteUri, Hex(_kernel)),
            ("fcos/initramfs.img", _origin.Url("initramfs").AbsoluteUri, Hex(_initramfs)),
        ]));
    }

    public async ValueTask DisposeAsync()
    {
        await _origin.DisposeAsync();
        _tree.Dispose();
    }

    private static Task<CliResult> RunAsync(params string[] args) => CliRun.RunAsync(args);

    [Fact]
    public async Task Sync_stores_every_artifact_of_the_release_and_says_so()
    {
        var (exit, output, _) = await RunAsync("release", "sync", "--profiles", _tree.Profiles, "--store", Store);

        Assert.Equal(0, exit);
        Assert.Contains($"stored  fcos/kernel (x86_64) sha256:{Hex(_kernel)}", output);
        Assert.Contains("2 of 2 artifact(s)", output);
        Assert.Equal(_initramfs, await File.ReadAllBytesAsync(Path.Combine(Store, "blobs", "sha256", Hex(_initramfs)), Ct));
    }

    [Fact]
    public async Task Sync_of_a_corrupted_artifact_exits_1_with_one_line_naming_it_and_both_digests()
    {
        var corrupted = (byte[])_kernel.Clone();
        corrupted[4242] ^= 0x01;
        _origin.Add("kernel", corrupted);

        var (exit, _, errors) = await RunAsync("release", "sync", "--profiles", _tree.Profiles, "--store", Store);

        Assert.Equal(1, exit);
        Assert.Contains($"error: artifact fcos/kernel (x86_64): sha256 mismatch: expected {Hex(_kernel)}, got {Hex(corrupted)}\n", errors);
        Assert.False(File.Exists(Path.Combine(Store, "blobs", "sha256", Hex(_kernel))));
    }

    [Fact]
    public async Task Sync_without_a_release_section_is_a_one_line_error()
    {
        File.Delete(_tree.ProfileFile("release.yaml"));

        var (exit, _, errors) = await RunAsync("release", "sync", "--profiles", _tree.Profiles, "--store", Store);

        Assert.Equal(1, exit);
        Assert.Equal($"error: the profiles in {_tree.Profiles} have no 'release:' section\n", errors);
    }

    [Fact]
    public async Task The_server_mirrors_the_release_in_the_background()
    {
        await using var server = await RunningServer.StartAsync(_tree, o => o with { StoreDirectory = Store });

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        bool allPresent;
        do
        {
            await Task.Delay(100, Ct);
            using var doc = JsonDocument.Parse(await server.Client.GetStringAsync("/api/v1/release", Ct));
            allPresent = doc.RootElement.GetProperty("release").GetProperty("artifacts").EnumerateArray().All(a => a.GetProperty("present").GetBoolean());
        } while (!allPresent && DateTime.UtcNow < deadline);

        Assert.True(allPresent);
        Assert.Equal(_kernel, await server.Client.GetByteArrayAsync($"/assets/sha256/{Hex(_kernel)}", Ct));
        Assert.Equal(1, _origin.GetsOf("kernel"));
    }

    [Fact]
    public async Task Import_image_with_a_bad_reference_is_a_one_line_error()
    {
        var (exit, _, errors) = await RunAsync("release", "import-image", _tree.Root, "library/pause", "--store", Store);

        Assert.Equal(1, exit);
        Assert.Equal("error: 'library/pause' has no tag; write name:tag, e.g. library/pause:3.10\n", errors);
    }

    [Fact]
    public async Task Import_image_prints_what_it_stored()
    {
        var b = new Registry.OciLayoutBuilder();
        var image = b.Image("amd64", "hi");
        var layout = b.WriteLayout(Path.Combine(_tree.Root, "layout"), ("1", image.Manifest));

        var (exit, output, _) = await RunAsync("release", "import-image", layout, "library/pause:3.10", "--store", Store);

        Assert.Equal(0, exit);
        Assert.StartsWith($"imported library/pause:3.10 {image.Manifest.Digest} (application/vnd.oci.image.manifest.v1+json, 1 manifest(s), 3 blob(s)", output);
    }
}
