using Provisioner.Profiles;
using Provisioner.Release;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Release;

public sealed class ReleaseSectionTests : IDisposable
{
    private readonly ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private static readonly string KernelSha = ReleaseYaml.Hex("kernel");

    private (ProfileSet? Profiles, IReadOnlyList<ProfileDiagnostic> Problems) Load(string releaseYaml)
    {
        _tree.Write("release.yaml", releaseYaml);
        return ProfileLoader.TryLoad(_tree.Sources);
    }

    [Fact]
    public void The_bundled_profiles_load_without_a_release()
    {
        var (profiles, problems) = ProfileLoader.TryLoad(_tree.Sources);

        Assert.Empty(problems);
        Assert.Null(profiles!.Release);
    }

    [Fact]
    public void A_release_names_its_images_by_registry_repository_tag_and_digest()
    {
        var (profiles, problems) = Load(ReleaseYaml.Section([]));

        Assert.Empty(problems);
        var coredns = profiles!.Release!.Images.Single(i => i.Component == "coredns");
        Assert.Equal(("registry.k8s.io", "coredns/coredns", "v1.11.3"), (coredns.Registry, coredns.Repository, coredns.Tag));
        Assert.Equal($"registry.k8s.io/coredns/coredns@sha256:{ReleaseYaml.Hex("coredns")}", coredns.PinnedReference);
    }

    [Fact]
    public void A_release_names_boot_artifacts_per_architecture()
    {
        var (profiles, problems) = Load(ReleaseYaml.Section([("fcos/kernel", "https://example.org/kernel", KernelSha)]));

        Assert.Empty(problems);
        var kernel = profiles!.Release!.FindArtifact("fcos/kernel", "x86_64");
        Assert.Equal((new Uri("https://example.org/kernel"), KernelSha), (kernel!.Source, kernel.Sha256.Hex));
        Assert.Null(profiles.Release.FindArtifact("fcos/kernel", "aarch64"));
    }

    [Fact]
    public void A_bad_artifact_digest_is_reported_with_file_line_column_and_field()
    {
        var (_, problems) = Load(ReleaseYaml.Section([("fcos/kernel", "https://example.org/kernel", "abc123")]));

        var p = Assert.Single(problems);
        Assert.Equal(("release.yaml", "release.artifacts.x86_64.fcos/kernel.sha256"), (Path.GetFileName(p.File), p.Field));
        Assert.True(p.Line > 0 && p.Column > 0);
        Assert.Contains("'abc123' is not a sha256", p.Message);
    }

    [Fact]
    public void A_missing_component_image_is_named()
    {
        var yaml = ReleaseYaml.Section([]).Replace($"    etcd: {{image: registry.k8s.io/etcd:3.5.15-0, digest: \"sha256:{ReleaseYaml.Hex("etcd")}\"}}\n", "");

        var (_, problems) = Load(yaml);

        Assert.Contains(problems, p => p.Field == "release.images" && p.Message.Contains("the 'etcd' image is missing"));
    }

    [Fact]
    public void An_image_without_a_registry_host_is_refused()
    {
        var (_, problems) = Load(ReleaseYaml.Section([]).Replace("image: registry.k8s.io/pause:3.10", "image: pause:3.10"));

        Assert.Contains(problems, p => p.Field == "release.images.pause.image" && p.Message.Contains("must name its registry"));
    }

    [Fact]
    public void A_malformed_image_digest_is_refused()
    {
        var (_, problems) = Load(ReleaseYaml.Section([]).Replace($"sha256:{ReleaseYaml.Hex("pause")}", "sha256:nothex"));

        Assert.Contains(problems, p => p.Field == "release.images.pause.digest");
    }

    [Fact]
    public void A_release_for_another_kubernetes_version_than_the_cluster_is_refused()
    {
        var (_, problems) = Load(ReleaseYaml.Section([], version: "v1.30.0"));

        Assert.Contains(problems, p => p.Field == "release.kubernetesVersion" && p.Message.Contains("cluster says kubernetesVersion v1.31.2"));
    }

    [Fact]
    public void A_kube_component_tag_must_match_the_release_version()
    {
        var (_, problems) = Load(ReleaseYaml.Section([]).Replace("kube-proxy:v1.31.2", "kube-proxy:v1.31.1"));

        Assert.Contains(problems, p => p.Field == "release.images.kube-proxy.image" && p.Message.Contains("differs from the release's kubernetesVersion"));
    }

    [Fact]
    public void An_unknown_architecture_and_an_unknown_key_are_refused()
    {
        var yaml = ReleaseYaml.Section([("fcos/kernel", "https://example.org/kernel", KernelSha)])
            .Replace("    x86_64:", "    amd64:").Replace("  kubernetesVersion:", "  kubernetesVersoin: x\n  kubernetesVersion:");

        var (_, problems) = Load(yaml);

        Assert.Contains(problems, p => p.Field == "release.artifacts.amd64" && p.Message.Contains("not an architecture"));
        Assert.Contains(problems, p => p.Message.Contains("unknown field 'kubernetesVersoin' (did you mean 'kubernetesVersion'?)"));
    }

    [Fact]
    public void Two_release_sections_are_refused()
    {
        _tree.Write("release2.yaml", ReleaseYaml.Section([]));

        var (_, problems) = Load(ReleaseYaml.Section([]));

        Assert.Contains(problems, p => p.Message.Contains("a second 'release' section"));
    }
}
