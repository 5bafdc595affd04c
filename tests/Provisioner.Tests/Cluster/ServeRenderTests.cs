using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Provisioner.Catalog;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Cluster;

/// <summary><c>serve</c> renders what is missing on start with the render code, and follows profile reloads.</summary>
public sealed class ServeRenderTests : IDisposable
{
    private readonly ProfileTree _tree = new();
    private string ClusterDir => Path.Combine(_tree.Root, "cluster");
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _tree.Dispose();

    private Dictionary<string, (string, DateTime)> Snapshot() =>
        Directory.EnumerateFiles(ClusterDir, "*", SearchOption.AllDirectories)
            .ToDictionary(f => f, f => (File.ReadAllText(f), File.GetLastWriteTimeUtc(f)));

    [Fact]
    public async Task Start_renders_the_cluster_directory_and_a_restart_rewrites_nothing()
    {
        await using (await RunningServer.StartAsync(_tree)) { }
        Assert.True(File.Exists(Path.Combine(ClusterDir, "tls", "ca.key")));
        Assert.True(File.Exists(Path.Combine(ClusterDir, "ignition", "worker-0.ign")));
        var before = Snapshot();
        await Task.Delay(1100, Ct);
        await using (await RunningServer.StartAsync(_tree)) { }
        Assert.Equal(before, Snapshot());
    }

    [Fact]
    public async Task Cluster_dir_option_places_the_directory_elsewhere()
    {
        var elsewhere = Path.Combine(_tree.Root, "elsewhere");
        await using (await RunningServer.StartAsync(_tree, o => o with { ClusterDirectory = elsewhere })) { }
        Assert.True(File.Exists(Path.Combine(elsewhere, "auth", "admin.kubeconfig")));
        Assert.False(Directory.Exists(ClusterDir));
    }

    [Fact]
    public async Task A_control_plane_machine_added_while_serving_gets_its_own_etcd_certificates()
    {
        await using var server = await RunningServer.StartAsync(_tree);
        _tree.Write("cp1.yaml", "machines:\n  - name: cp-1\n    role: control-plane\n    select: {mac: 52:54:00:00:20:11}\n    network: {address: 192.0.2.22/24}\n");
        Assert.True(await server.Server.Services.GetRequiredService<CatalogStore>().ReloadAsync(Ct));

        var files = IgnitionFiles.Decode(await server.RealConfigAsync("mac=52:54:00:00:20:11", Ct));
        Assert.Equal(File.ReadAllText(Path.Combine(ClusterDir, "tls", "etcd", "cp-1", "server.crt")), files["/etc/kubernetes/pki/etcd/server.crt"].Text);
        var etcd = files["/etc/kubernetes/manifests/etcd.yaml"].Text;
        var initial = etcd.Split('\n').Single(l => l.Contains("--initial-cluster=", StringComparison.Ordinal)).Trim().Trim('-', ' ', '"')["initial-cluster=".Length..];
        Assert.Equal(["cp-0=https://192.0.2.21:2380", "cp-1=https://192.0.2.22:2380"], initial.Split(',').Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)] // the machine's config was served (and prepared) before the key went missing
    public async Task A_broken_cluster_directory_is_a_503_with_a_reason_not_a_stack_trace(bool servedBefore)
    {
        await using var server = await RunningServer.StartAsync(_tree);
        if (servedBefore)
            Assert.Equal(HttpStatusCode.OK, (await server.Client.GetAsync("/ignition?mac=52:54:00:00:20:01", Ct)).StatusCode);
        File.Delete(Path.Combine(ClusterDir, "tls", "apiserver.key"));
        // Configs are prepared ahead of requests; the deletion reaches them through a watch on tls/, so allow it a moment.
        HttpResponseMessage response;
        var deadline = DateTime.UtcNow.AddSeconds(10);
        do
        {
            response = await server.Client.GetAsync("/ignition?mac=52:54:00:00:20:01", Ct);
            if (response.StatusCode == HttpStatusCode.ServiceUnavailable || DateTime.UtcNow > deadline) break;
            await Task.Delay(20, Ct);
        } while (true);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.Contains("the cluster assets for cp-0 are unavailable", body);
        Assert.DoesNotContain("   at ", body);
    }
}
