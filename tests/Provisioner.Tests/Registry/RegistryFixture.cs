using Provisioner.Release;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Registry;

/// <summary>
/// The real server with a release store holding images built by <see cref="OciLayoutBuilder"/>:
/// <c>library/pause</c> (one OCI manifest, tags 3.8, 3.9, 3.10, latest), <c>k8s/kube-apiserver:v1.31.2</c>
/// (an index for amd64 and arm64) and <c>docker/app:1</c> (Docker schema 2) with <c>docker/app:multi</c> (a Docker manifest list).
/// </summary>
public class RegistryFixture : IAsyncLifetime
{
    public ProfileTree Tree { get; } = new();
    public string Store => Path.Combine(Tree.Root, "store");
    internal RunningServer Server { get; private set; } = null!;
    public HttpClient Client => Server.Client;
    public TestImage Pause { get; private set; } = null!;
    internal TestImage ApiServerAmd64 { get; private set; } = null!;
    internal TestImage ApiServerArm64 { get; private set; } = null!;
    public TestDescriptor ApiServerIndex { get; private set; } = null!;
    internal TestImage DockerApp { get; private set; } = null!;
    internal TestDescriptor DockerList { get; private set; } = null!;
    public string Authority => $"127.0.0.1:{Server.BaseAddress.Port}";

    public async ValueTask InitializeAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        var importer = new OciLayoutImporter(new ImageRepositories(new ContentStore(Store)));

        var pause = new OciLayoutBuilder();
        Pause = pause.Image("amd64", "pause", layerBytes: 300_000);
        var pauseLayout = pause.WriteLayout(Path.Combine(Tree.Root, "pause"), ("3.10", Pause.Manifest));
        foreach (var tag in new[] { "3.8", "3.9", "3.10", "latest" })
            await importer.ImportAsync(pauseLayout, "library/pause", tag, null, ct);

        var api = new OciLayoutBuilder();
        ApiServerAmd64 = api.Image("amd64", "kube-apiserver amd64");
        ApiServerArm64 = api.Image("arm64", "kube-apiserver arm64");
        ApiServerIndex = api.Index(ApiServerAmd64, ApiServerArm64);
        await importer.ImportAsync(api.WriteLayout(Path.Combine(Tree.Root, "api"), ("v1.31.2", ApiServerIndex)), "k8s/kube-apiserver", "v1.31.2", null, ct);

        var docker = new OciLayoutBuilder();
        DockerApp = docker.Image("amd64", "docker app", docker: true);
        await importer.ImportAsync(docker.WriteLayout(Path.Combine(Tree.Root, "docker"), ("1", DockerApp.Manifest)), "docker/app", "1", null, ct);
        var dockerArm = docker.Image("arm64", "docker app arm", docker: true);
        DockerList = docker.Index(OciLayoutBuilder.DockerManifestList, DockerApp, dockerArm);
        await importer.ImportAsync(docker.WriteLayout(Path.Combine(Tree.Root, "docker-list"), ("multi", DockerList)), "docker/app", "multi", null, ct);

        Server = await StartServerAsync(o => o with { StoreDirectory = Store });
    }

    /// <summary>Kestrel on loopback, for clients that need a real address (skopeo).</summary>
    private protected virtual Task<RunningServer> StartServerAsync(Func<Provisioner.Hosting.ServerOptions, Provisioner.Hosting.ServerOptions> configure) =>
        RunningServer.StartAsync(Tree, configure);

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Tree.Dispose();
        GC.SuppressFinalize(this);
    }
}

/// <summary>The same registry served in memory (TestServer), for the HTTP-level unit tests.</summary>
public sealed class InMemoryRegistryFixture : RegistryFixture
{
    private protected override Task<RunningServer> StartServerAsync(Func<Provisioner.Hosting.ServerOptions, Provisioner.Hosting.ServerOptions> configure) =>
        RunningServer.StartInMemoryAsync(Tree, configure);
}
