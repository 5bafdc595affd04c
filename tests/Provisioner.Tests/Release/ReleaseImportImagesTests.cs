using Provisioner.Cli;
using Provisioner.Release;
using Provisioner.Tests.Registry;
using Provisioner.Tests.Support;
using Provisioner.Primitives;

namespace Provisioner.Tests.Release;

/// <summary><c>release import-images DIR</c>: every image of the release from OCI layouts, checked against its pinned digest.</summary>
public sealed class ReleaseImportImagesTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly ProfileTree _tree = new();
    private readonly Dictionary<string, (string Reference, TestDescriptor Root)> _images = [];

    private string Store => Path.Combine(_tree.Root, "store");
    private string Layouts => Path.Combine(_tree.Root, "layouts");

    private static readonly (string Component, string Reference)[] Components =
    [
        ("kube-apiserver", "registry.k8s.io/kube-apiserver:v1.31.2"), ("kube-controller-manager", "registry.k8s.io/kube-controller-manager:v1.31.2"),
        ("kube-scheduler", "registry.k8s.io/kube-scheduler:v1.31.2"), ("kube-proxy", "registry.k8s.io/kube-proxy:v1.31.2"),
        ("pause", "registry.k8s.io/pause:3.10"), ("etcd", "registry.k8s.io/etcd:3.5.15-0"), ("coredns", "registry.k8s.io/coredns/coredns:v1.11.3"),
        ("kubelet", "quay.io/poseidon/kubelet:v1.31.2"), ("kubectl", "registry.k8s.io/kubectl:v1.31.2"),
        ("flannel", "docker.io/flannel/flannel:v0.26.1"), ("flannel-cni-plugin", "docker.io/flannel/flannel-cni-plugin:v1.5.1-flannel2"),
    ];

    public ReleaseImportImagesTests()
    {
        foreach (var (component, reference) in Components)
        {
            var b = new OciLayoutBuilder();
            // kube-apiserver is multi-arch, the others single images; pause arrives as a tar archive.
            var root = component == "kube-apiserver" ? b.Index(b.Image("amd64", component), b.Image("arm64", component)) : b.Image("amd64", component).Manifest;
            var layout = b.WriteLayout(Path.Combine(Layouts, component), ("x", root));
            if (component == "pause")
            {
                OciLayoutBuilder.TarLayout(layout, Path.Combine(Layouts, "pause.tar"));
                Directory.Delete(layout, recursive: true);
            }
            _images[component] = (reference, root);
        }
    }

    public void Dispose() => _tree.Dispose();

    private void WriteRelease(Func<string, string?>? digestOf = null)
    {
        var images = string.Concat(_images.Select(kv =>
            $"    {kv.Key}: {{image: {kv.Value.Reference}, digest: \"{(digestOf?.Invoke(kv.Key) ?? kv.Value.Root.Digest)}\"}}\n"));
        _tree.Write("release.yaml", "release:\n  kubernetesVersion: v1.31.2\n  images:\n" + images);
    }

    private static Task<CliResult> RunAsync(params string[] args) => CliRun.RunAsync(args);

    [Fact]
    public async Task Every_release_image_is_imported_under_its_upstream_name_and_status_is_complete()
    {
        WriteRelease();

        var import = await RunAsync("release", "import-images", Layouts, "--profiles", _tree.Profiles, "--store", Store);
        var status = await RunAsync("release", "status", "--profiles", _tree.Profiles, "--store", Store);

        Assert.Equal((0, ""), (import.Exit, import.Err));
        Assert.Contains($"imported coredns registry.k8s.io/coredns/coredns:v1.11.3 {_images["coredns"].Root.Digest}", import.Out);
        Assert.Equal(0, status.Exit);
        var repo = await new ImageRepositories(new ContentStore(Store)).FindAsync("registry.k8s.io/kube-apiserver", Ct);
        Assert.Equal(_images["kube-apiserver"].Root.Digest, repo!.Tags["v1.31.2"]);
    }

    [Fact]
    public async Task An_image_that_is_not_the_pinned_digest_is_refused_and_the_others_still_imported()
    {
        var pinned = "sha256:" + ReleaseYaml.Hex("another etcd");
        WriteRelease(c => c == "etcd" ? pinned : null);

        var (exit, output, errors) = await RunAsync("release", "import-images", Layouts, "--profiles", _tree.Profiles, "--store", Store);

        Assert.Equal(1, exit);
        Assert.Equal($"error: image etcd: {Path.Combine(Layouts, "etcd")}: the image is {_images["etcd"].Root.Digest} but the release pins registry.k8s.io/etcd:3.5.15-0 to {pinned}\n", errors);
        Assert.Contains("imported kube-proxy", output);
        Assert.Null(await new ImageRepositories(new ContentStore(Store)).FindAsync("registry.k8s.io/etcd", Ct));
    }

    [Fact]
    public async Task A_component_without_a_layout_is_named()
    {
        WriteRelease();
        Directory.Delete(Path.Combine(Layouts, "coredns"), recursive: true);

        var (exit, _, errors) = await RunAsync("release", "import-images", Layouts, "--profiles", _tree.Profiles, "--store", Store);

        Assert.Equal(1, exit);
        Assert.Equal($"error: image coredns: no coredns/ or coredns.tar in {Layouts}\n", errors);
    }
}
