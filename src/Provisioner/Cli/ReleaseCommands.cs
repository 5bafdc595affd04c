using System.CommandLine;
using Provisioner.Release;

namespace Provisioner.Cli;

/// <summary><c>provisioner release …</c>: fill and inspect the release mirror's store. Spellings are stable.</summary>
public static class ReleaseCommands
{
    public static Command Build(TextWriter stdout, TextWriter stderr, Func<string, string?> env)
    {
        var store = StoreOption();
        var profiles = new Option<string?>("--profiles") { Description = "Directory of profiles; the store defaults to release-store/ beside it. Default: ./profiles, or PROVISIONER_PROFILES.", HelpName = "DIR" };

        var source = new Argument<string>("oci-layout") { Description = "An OCI image layout directory (index.json, blobs/) or a tar archive of one." };
        var reference = new Argument<string>("name:tag") { Description = "Where the registry serves it, e.g. k8s/kube-apiserver:v1.31.2." };
        var sourceRef = new Option<string?>("--ref") { Description = "Which manifest of index.json to import when it lists several (its org.opencontainers.image.ref.name).", HelpName = "REF" };
        var importImage = new Command("import-image", "Import an image (single- or multi-arch) from an OCI layout into the store, verifying every digest; the registry at /v2/ serves it.")
            { source, reference, store, profiles, sourceRef };
        importImage.SetAction((r, ct) => Run(stderr, async () =>
        {
            if (!ImageNames.TryParseReference(r.GetValue(reference)!, out var name, out var tag, out var error)) throw new ReleaseException(error);
            var content = OpenStore(r, store, profiles, env);
            var result = await new OciLayoutImporter(new ImageRepositories(content))
                .ImportAsync(r.GetValue(source)!, name, tag, r.GetValue(sourceRef), ct);
            await stdout.WriteLineAsync($"imported {result.Name}:{result.Tag} {result.Digest} ({result.MediaType}, {result.Manifests} manifest(s), {result.Blobs} blob(s), {result.Bytes} bytes copied) into {content.Root}");
            return 0;
        }));

        var stream = new Argument<string>("stream.json") { Description = "Fedora CoreOS stream metadata (e.g. a saved https://builds.coreos.fedoraproject.org/streams/stable.json)." };
        var arch = new Option<string[]>("--arch") { Description = "Architectures to take (x86_64, aarch64, …); repeatable. Default: every one in the stream.", HelpName = "ARCH", Arity = ArgumentArity.ZeroOrMore };
        var prefix = new Option<string>("--prefix") { Description = "Artifact name prefix: PREFIX/kernel, PREFIX/initramfs.img, PREFIX/rootfs.img.", HelpName = "PREFIX", DefaultValueFactory = _ => "fcos" };
        var disk = new Option<bool>("--with-disk") { Description = "Also take the metal disk image (PREFIX/metal.raw.xz)." };
        var importStream = new Command("import-stream", "Print the release's artifacts section (kernel, initramfs, rootfs per architecture with URL and sha256) from CoreOS stream metadata.")
            { stream, arch, prefix, disk };
        importStream.SetAction((r, ct) => Run(stderr, async () =>
        {
            var path = r.GetValue(stream)!;
            if (!File.Exists(path)) throw new ReleaseException($"'{path}' does not exist");
            var artifacts = CoreOsStream.Read(await File.ReadAllTextAsync(path, ct), path, r.GetValue(prefix)!, r.GetValue(arch), r.GetValue(disk));
            await stdout.WriteAsync(CoreOsStream.ToYaml(artifacts, $"from {Path.GetFileName(path)}; paste below 'release:'"));
            return 0;
        }));

        return new Command("release", "The release mirror: OS boot artifacts and container images, verified by digest, served from this host.")
        {
            importImage, importStream,
        };
    }

    internal static Option<string?> StoreOption() =>
        new("--store") { Description = "The release store (content-addressed). Default: release-store/ beside the profiles directory, or PROVISIONER_STORE.", HelpName = "DIR" };

    private static ContentStore OpenStore(ParseResult r, Option<string?> store, Option<string?> profiles, Func<string, string?> env) =>
        new(ReleaseStoreLocation.Resolve(r.GetValue(store) ?? env("PROVISIONER_STORE"), r.GetValue(profiles) ?? env("PROVISIONER_PROFILES") ?? "profiles"));

    /// <summary>Operator mistakes and I/O failures: one line on stderr, exit 1.</summary>
    private static async Task<int> Run(TextWriter stderr, Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (Exception e) when (e is ReleaseException or IOException or UnauthorizedAccessException or SettingsException)
        {
            await stderr.WriteLineAsync("error: " + e.Message);
            return 1;
        }
    }
}
