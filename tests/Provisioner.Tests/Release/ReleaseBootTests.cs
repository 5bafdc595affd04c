using System.Net;
using System.Security.Cryptography;
using System.Text.Json;
using Provisioner.Cli;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Release;

/// <summary>
/// Roles that boot release artifacts by name: a retry script until the artifact is mirrored and verified, then
/// Provisioner's own content-addressed URLs, served immutable from the store.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class ReleaseBootTests : IAsyncLifetime
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private const string Worker = "/ipxe?mac=52-54-00-00-30-01&arch=x86_64";
    private readonly ProfileTree _tree = new();
    private readonly Dictionary<string, byte[]> _artifacts = new()
    {
        ["fcos/kernel"] = RandomBytes(200_000, 1),
        ["fcos/initramfs.img"] = RandomBytes(300_000, 2),
        ["fcos/rootfs.img"] = RandomBytes(400_000, 3),
    };
    private RunningServer _server = null!;

    private string Store => Path.Combine(_tree.Root, "store");
    private string Downloads => Path.Combine(_tree.Root, "downloads");
    private static string Hex(byte[] b) => Convert.ToHexStringLower(SHA256.HashData(b));

    private static byte[] RandomBytes(int n, int seed)
    {
        var b = new byte[n];
        new Random(seed).NextBytes(b);
        return b;
    }

    public async ValueTask InitializeAsync()
    {
        // Sources are file:// URLs to files that do not exist yet: the release cannot be mirrored until the test says so.
        _tree.Write("release.yaml", ReleaseYaml.Section(_artifacts.Select(kv =>
            (kv.Key, new Uri(Path.Combine(Downloads, kv.Key.Replace('/', '-'))).AbsoluteUri, Hex(kv.Value)))));
        _tree.Edit("roles.yaml", "coreos.live.rootfs_url=http://192.0.2.1:8080/assets/fcos/rootfs.img", "coreos.live.rootfs_url=fcos/rootfs.img");
        _server = await RunningServer.StartAsync(_tree, o => o with { StoreDirectory = Store });
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _tree.Dispose();
    }

    private async Task<int> SyncAsync()
    {
        Directory.CreateDirectory(Downloads);
        foreach (var (name, content) in _artifacts)
            await File.WriteAllBytesAsync(Path.Combine(Downloads, name.Replace('/', '-')), content, Ct);
        return await CommandLine.InvokeAsync(["release", "sync", "--profiles", _tree.Profiles, "--store", Store], new StringWriter(), new StringWriter(), _ => null, Ct);
    }

    [Fact]
    public async Task Before_sync_a_machine_gets_a_retry_script_naming_the_missing_artifacts()
    {
        using var response = await _server.Client.GetAsync(Worker, Ct);
        var script = await response.Content.ReadAsStringAsync(Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.StartsWith("#!ipxe\n", script);
        Assert.Contains($"needs release artifact fcos/kernel (x86_64, sha256 {Hex(_artifacts["fcos/kernel"])}), which is not downloaded and verified yet", script);
        Assert.Contains("needs release artifact fcos/rootfs.img", script);
        Assert.Contains("chain --replace --autofree http://192.0.2.1:8080/ipxe?mac=52-54-00-00-30-01&arch=x86_64\n", script);
        Assert.DoesNotContain("\nkernel ", script);
    }

    [Fact]
    public async Task After_sync_the_script_boots_the_artifacts_from_their_digest_urls()
    {
        Assert.Equal(0, await SyncAsync());

        var lines = (await _server.Client.GetStringAsync(Worker, Ct)).Split('\n');

        var kernel = Assert.Single(lines, l => l.StartsWith("kernel ", StringComparison.Ordinal));
        Assert.StartsWith($"kernel http://192.0.2.1:8080/assets/sha256/{Hex(_artifacts["fcos/kernel"])}?mac=52-54-00-00-30-01 initrd=initrd0 ", kernel);
        Assert.EndsWith($" coreos.live.rootfs_url=http://192.0.2.1:8080/assets/sha256/{Hex(_artifacts["fcos/rootfs.img"])}", kernel);
        Assert.Contains($"initrd --name initrd0 http://192.0.2.1:8080/assets/sha256/{Hex(_artifacts["fcos/initramfs.img"])}?mac=52-54-00-00-30-01", lines);
    }

    [Fact]
    public async Task The_ipxe_command_prints_what_the_server_hands_out_before_and_after_sync()
    {
        async Task<string> Ipxe()
        {
            var stdout = new StringWriter();
            var exit = await CommandLine.InvokeAsync(["ipxe", "worker-0", "--profiles", _tree.Profiles], stdout, new StringWriter(),
                name => name == "PROVISIONER_STORE" ? Store : null, Ct);
            Assert.Equal(0, exit);
            return stdout.ToString();
        }

        var before = await Ipxe();
        Assert.Equal(0, await SyncAsync());
        var after = await Ipxe();

        Assert.Contains("needs release artifact fcos/kernel", before);
        Assert.Contains($"kernel http://192.0.2.1:8080/assets/sha256/{Hex(_artifacts["fcos/kernel"])}?mac=52-54-00-00-30-01 ", after);
        // The server's script is the same but for the one-time ticket it mints per answer (the command mints none).
        var served = await _server.Client.GetStringAsync("/ipxe?mac=52-54-00-00-30-01", Ct);
        Assert.Matches("&ticket=[A-Za-z0-9_-]{16,}", served);
        Assert.Equal(System.Text.RegularExpressions.Regex.Replace(served, "&ticket=[A-Za-z0-9_-]+", ""), after);
    }

    [Fact]
    public async Task A_mirrored_artifact_is_served_by_digest_as_immutable_with_ranges()
    {
        Assert.Equal(0, await SyncAsync());
        var kernel = _artifacts["fcos/kernel"];

        using var whole = await _server.Client.GetAsync($"/assets/sha256/{Hex(kernel)}", Ct);
        using var range = await _server.Client.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"/assets/sha256/{Hex(kernel)}")
            { Headers = { Range = new System.Net.Http.Headers.RangeHeaderValue(10, 19) } }, Ct);

        Assert.Equal(kernel, await whole.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal("public, max-age=31536000, immutable", whole.Headers.CacheControl?.ToString());
        Assert.Equal(HttpStatusCode.PartialContent, range.StatusCode);
        Assert.Equal(kernel[10..20], await range.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task A_mirrored_artifact_is_served_by_its_release_name()
    {
        Assert.Equal(0, await SyncAsync());

        var bytes = await _server.Client.GetByteArrayAsync("/release/artifacts/x86_64/fcos/initramfs.img", Ct);

        Assert.Equal(_artifacts["fcos/initramfs.img"], bytes);
    }

    [Fact]
    public async Task Fetching_the_kernel_by_digest_records_the_kernel_stage()
    {
        Assert.Equal(0, await SyncAsync());

        await _server.Client.GetByteArrayAsync($"/assets/sha256/{Hex(_artifacts["fcos/kernel"])}?mac=52-54-00-00-30-01", Ct);

        var machine = await _server.MachineAsync("worker-0", Ct);
        Assert.Equal("kernel", machine.GetProperty("state").GetString());
    }

    [Theory]
    [InlineData("/assets/sha256/xyz", HttpStatusCode.BadRequest)]
    [InlineData("/assets/sha256/0000000000000000000000000000000000000000000000000000000000000000", HttpStatusCode.NotFound)]
    [InlineData("/release/artifacts/x86_64/fcos/kernel", HttpStatusCode.NotFound)]
    [InlineData("/release/artifacts/aarch64/fcos/kernel", HttpStatusCode.NotFound)]
    public async Task Unknown_or_unsynced_artifacts_are_a_4xx_with_a_reason(string path, HttpStatusCode status)
    {
        using var response = await _server.Client.GetAsync(path, Ct);

        Assert.Equal(status, response.StatusCode);
        Assert.StartsWith($"{(int)status} ", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task The_release_status_lists_each_artifact_as_present_or_not()
    {
        using var before = JsonDocument.Parse(await _server.Client.GetStringAsync("/api/v1/release", Ct));
        Assert.Equal(0, await SyncAsync());
        using var after = JsonDocument.Parse(await _server.Client.GetStringAsync("/api/v1/release", Ct));

        bool Present(JsonDocument d) => d.RootElement.GetProperty("release").GetProperty("artifacts").EnumerateArray()
            .Single(a => a.GetProperty("name").GetString() == "fcos/kernel").GetProperty("present").GetBoolean();
        Assert.False(Present(before));
        Assert.True(Present(after));
    }
}
