using Provisioner.Cli;
using Provisioner.Profiles;
using Provisioner.Release;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Release;

public sealed class CoreOsStreamTests : IDisposable
{
    private readonly ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private static string Entry(string url, string sha) => $$"""{"location":"{{url}}","signature":"{{url}}.sig","sha256":"{{sha}}"}""";

    private static string Arch(string arch) =>
        "\"" + arch + "\": {\"artifacts\": {\"metal\": {\"release\": \"40.20240701.3.0\", \"formats\": {" +
        "\"pxe\": {\"kernel\": " + Entry($"https://builds.example/{arch}/kernel", ReleaseYaml.Hex(arch + "k")) +
        ", \"initramfs\": " + Entry($"https://builds.example/{arch}/initramfs.img", ReleaseYaml.Hex(arch + "i")) +
        ", \"rootfs\": " + Entry($"https://builds.example/{arch}/rootfs.img", ReleaseYaml.Hex(arch + "r")) + "}, " +
        "\"raw.xz\": {\"disk\": " + Entry($"https://builds.example/{arch}/metal.raw.xz", ReleaseYaml.Hex(arch + "d")) + "}}}}}";

    private static readonly string Stream = "{\"stream\": \"stable\", \"architectures\": {" + Arch("x86_64") + ", " + Arch("aarch64") + "}}";

    [Fact]
    public void Pxe_kernel_initramfs_and_rootfs_of_every_architecture_become_artifacts()
    {
        var artifacts = CoreOsStream.Read(Stream, "stable.json", "fcos", null, includeDisk: false);

        Assert.Equal(6, artifacts.Count);
        var rootfs = artifacts.Single(a => a.Name == "fcos/rootfs.img" && a.Architecture == "aarch64");
        Assert.Equal(("https://builds.example/aarch64/rootfs.img", ReleaseYaml.Hex("aarch64r")), (rootfs.Source.AbsoluteUri, rootfs.Sha256.Hex));
    }

    [Fact]
    public void The_disk_image_is_taken_only_when_asked()
    {
        var artifacts = CoreOsStream.Read(Stream, "stable.json", "fcos", ["x86_64"], includeDisk: true);

        Assert.Equal(["fcos/kernel", "fcos/initramfs.img", "fcos/rootfs.img", "fcos/metal.raw.xz"], artifacts.Select(a => a.Name));
    }

    [Fact]
    public void A_stream_without_pxe_artifacts_is_an_error_naming_the_path()
    {
        var broken = Stream.Replace("\"initramfs\"", "\"initrd\"");

        var e = Assert.Throws<ReleaseException>(() => CoreOsStream.Read(broken, "stable.json", "fcos", null, false));

        Assert.Equal("stable.json: architectures.x86_64.artifacts.metal.formats.pxe.initramfs is missing", e.Message);
    }

    [Fact]
    public async Task The_printed_section_loads_as_the_release_artifacts()
    {
        var streamFile = Path.Combine(_tree.Root, "stable.json");
        await File.WriteAllTextAsync(streamFile, Stream, TestContext.Current.CancellationToken);
        var stdout = new StringWriter();

        var exit = await CommandLine.InvokeAsync(["release", "import-stream", streamFile, "--arch", "x86_64"], stdout, new StringWriter(), _ => null, TestContext.Current.CancellationToken);
        _tree.Write("release.yaml", "release:\n  kubernetesVersion: v1.31.2\n" + ReleaseYaml.Images() + stdout);
        var (profiles, problems) = ProfileLoader.TryLoad(_tree.Sources);

        Assert.Equal(0, exit);
        Assert.Empty(problems);
        Assert.Equal(ReleaseYaml.Hex("x86_64k"), profiles!.Release!.FindArtifact("fcos/kernel", "x86_64")!.Sha256.Hex);
    }
}
