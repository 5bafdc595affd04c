using System.CommandLine;
using Microsoft.Extensions.Logging;
using Provisioner.Profiles;
using Provisioner.Release;
using Provisioner.Primitives;

namespace Provisioner.Cli;

/// <summary><c>provisioner release …</c>: fill and inspect the release mirror's store. Spellings are stable.</summary>
internal static class ReleaseCommands
{
    public static Command Build(TextWriter stdout, TextWriter stderr, Func<string, string?> env)
    {
        var store = StoreOption();
        var profiles = new Option<string?>("--profiles") { Description = "Directory of profiles; the store defaults to release-store/ beside it. Default: ./profiles, or PROVISIONER_PROFILES, or provisioner.yaml.", HelpName = "DIR" };
        // The profiles name their roles' templates and only load when those are found, so every command that reads
        // the profiles takes --templates as serve, validate and render do.
        var templates = new Option<string?>("--templates") { Description = "Directory of Ignition templates the profiles' roles name. Default: ignition-templates beside the profiles directory, else the templates shipped with provisioner. Or PROVISIONER_TEMPLATES, or provisioner.yaml.", HelpName = "DIR" };

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

        var from = new Option<string?>("--from") { Description = "Take artifacts from this directory instead of their URLs (air-gapped import); files by artifact name, URL file name or sha256.", HelpName = "DIR" };
        var concurrency = new Option<int>("--concurrency") { Description = "Artifacts downloaded at once.", HelpName = "N", DefaultValueFactory = _ => 3 };
        var syncArch = new Option<string[]>("--arch") { Description = "Only these architectures; repeatable. Default: all in the release.", HelpName = "ARCH", Arity = ArgumentArity.ZeroOrMore };
        var sync = new Command("sync", "Download every missing boot artifact of the profiles' release into the store, verifying sha256 while streaming; resumes interrupted downloads.")
            { store, profiles, templates, from, concurrency, syncArch };
        sync.SetAction((r, ct) => Run(stderr, async () =>
        {
            var release = LoadRelease(Resolve(r, store, profiles, templates, env));
            var archs = r.GetValue(syncArch) ?? [];
            var artifacts = release.Artifacts.Where(a => archs.Length == 0 || archs.Contains(a.Architecture)).ToList();
            if (r.GetValue(concurrency) < 1) throw new ReleaseException("--concurrency must be at least 1");
            var content = OpenStore(r, store, profiles, env);
            // Logs go to stderr: stdout is the per-artifact result, for scripts.
            using var loggers = LoggerFactory.Create(b => b
                .AddConsole(o => o.LogToStandardErrorThreshold = LogLevel.Trace)
                .AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; })
                .AddFilter("System.Net.Http", LogLevel.Warning));
            var logger = loggers.CreateLogger("release-sync");
            ISyncProgress progress = Console.IsErrorRedirected || !ReferenceEquals(stderr, Console.Error)
                ? new LogProgress(logger, TimeProvider.System)
                : new TerminalProgress(stderr, TimeProvider.System);
            using var http = ReleaseHttp.CreateClient();
            var syncer = new ArtifactSync(content, http, new SyncOptions { Concurrency = r.GetValue(concurrency), FromDirectory = r.GetValue(from) }, logger, progress);
            var results = await syncer.SyncAsync(artifacts, ct);
            foreach (var result in results)
            {
                if (result.Outcome == SyncOutcome.Failed) await stderr.WriteLineAsync($"error: {result.Error}");
                else await stdout.WriteLineAsync($"{(result.Outcome == SyncOutcome.Downloaded ? "stored " : "present")} {result.Artifact} sha256:{result.Artifact.Sha256.Hex}");
            }
            var failed = results.Count(x => x.Outcome == SyncOutcome.Failed);
            await stdout.WriteLineAsync($"{results.Count - failed} of {results.Count} artifact(s) in {content.Root}");
            return failed == 0 ? 0 : 1;
        }));

        var imagesDir = new Argument<string>("dir") { Description = "A directory with one OCI layout per component: <component>/ (a layout directory) or <component>.tar." };
        var importImages = new Command("import-images", "Import every image of the profiles' release from a directory of OCI layouts (air-gapped), checking each against the digest the release pins; served under registry/repository:tag.")
            { imagesDir, store, profiles, templates };
        importImages.SetAction((r, ct) => Run(stderr, async () =>
        {
            var options = Resolve(r, store, profiles, templates, env);
            var release = LoadRelease(options);
            var content = new ContentStore(ReleaseStoreLocation.Resolve(options.StoreDirectory, options.ProfilesDirectory));
            var importer = new OciLayoutImporter(new ImageRepositories(content));
            var dir = r.GetValue(imagesDir)!;
            var failed = 0;
            foreach (var image in release.Images)
            {
                var source = new[] { Path.Combine(dir, image.Component), Path.Combine(dir, image.Component + ".tar") }
                    .FirstOrDefault(p => Directory.Exists(p) || File.Exists(p));
                try
                {
                    if (source is null) throw new ReleaseException($"no {image.Component}/ or {image.Component}.tar in {dir}");
                    var result = await importer.ImportAsync(source, $"{image.Registry}/{image.Repository}", image.Tag, null, ct, pinned: image.Digest);
                    await stdout.WriteLineAsync($"imported {image.Component} {image.Reference} {result.Digest}");
                }
                catch (ReleaseException e)
                {
                    failed++;
                    await stderr.WriteLineAsync($"error: image {image.Component}: {e.Message}");
                }
            }
            return failed == 0 ? 0 : 1;
        }));

        var status = new Command("status", "List every artifact and image of the profiles' release as present or missing in the store. Exit code 1 when something is missing.")
            { store, profiles, templates };
        status.SetAction((r, ct) => Run(stderr, async () =>
        {
            var options = Resolve(r, store, profiles, templates, env);
            var release = LoadRelease(options);
            var content = new ContentStore(ReleaseStoreLocation.Resolve(options.StoreDirectory, options.ProfilesDirectory));
            var repositories = new ImageRepositories(content);
            var missing = 0;
            foreach (var a in release.Artifacts)
            {
                var present = content.Contains(a.Sha256);
                if (!present) missing++;
                await stdout.WriteLineAsync($"{(present ? "present" : "MISSING")}  artifact {a} sha256:{a.Sha256.Hex}");
            }
            foreach (var i in release.Images)
            {
                // The registry serves release images under their upstream name, as the machines' mirror configuration asks.
                var repo = await repositories.FindAsync($"{i.Registry}/{i.Repository}", ct);
                var present = repo is not null && repo.Manifests.ContainsKey(i.Digest.ToString());
                if (!present) missing++;
                await stdout.WriteLineAsync($"{(present ? "present" : "MISSING")}  image {i.Component} {i.PinnedReference}");
            }
            await stdout.WriteLineAsync(missing == 0
                ? $"release {release.KubernetesVersion}: everything is in {content.Root}"
                : $"release {release.KubernetesVersion}: {missing} missing (sync artifacts with 'release sync', import images with 'release import-image <layout> <registry/repository:tag>')");
            return missing == 0 ? 0 : 1;
        }));

        return new Command("release", "The release mirror: OS boot artifacts and container images, verified by digest, served from this host.")
        {
            importImage, importImages, importStream, sync, status,
        };
    }

    /// <summary>The profiles' release section; profile problems are printed like <c>validate</c> does.</summary>
    private static ReleaseSpec LoadRelease(Hosting.ServerOptions options)
    {
        var (profiles, problems) = ProfileLoader.TryLoad(new ProfileSources(options.ProfilesDirectory, options.TemplatesDirectory));
        if (profiles is null) throw new ProfileValidationException(problems);
        return profiles.Release ?? throw new ReleaseException($"the profiles in {options.ProfilesDirectory} have no 'release:' section");
    }

    internal static Option<string?> StoreOption() =>
        new("--store") { Description = "The release store (content-addressed). Default: PROVISIONER_STORE, store in provisioner.yaml, else release-store/ beside the profiles directory.", HelpName = "DIR" };

    /// <summary>Profiles, templates and store as <c>serve</c> resolves them: flags &gt; PROVISIONER_* &gt; provisioner.yaml &gt; defaults.</summary>
    private static Hosting.ServerOptions Resolve(ParseResult r, Option<string?> store, Option<string?> profiles, Option<string?>? templates, Func<string, string?> env) =>
        Settings.Resolve(new SettingsLayer(Profiles: r.GetValue(profiles), Templates: templates is null ? null : r.GetValue(templates), Store: r.GetValue(store)),
            Settings.FromEnvironment(env), Settings.FromFile(Settings.DefaultConfigFile, explicitlyGiven: false));

    private static ContentStore OpenStore(ParseResult r, Option<string?> store, Option<string?> profiles, Func<string, string?> env)
    {
        // Only the store's location: import-image does not read the profiles, so it has no --templates.
        var options = Resolve(r, store, profiles, templates: null, env);
        return new ContentStore(ReleaseStoreLocation.Resolve(options.StoreDirectory, options.ProfilesDirectory));
    }

    /// <summary>Operator mistakes and I/O failures: one line on stderr, exit 1.</summary>
    private static async Task<int> Run(TextWriter stderr, Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (ProfileValidationException e)
        {
            foreach (var d in e.Diagnostics) await stderr.WriteLineAsync(d.ToString());
            await stderr.WriteLineAsync($"{e.Diagnostics.Count} problem(s) found.");
            return 1;
        }
        catch (Exception e) when (e is ReleaseException or IOException or UnauthorizedAccessException or SettingsException)
        {
            await stderr.WriteLineAsync("error: " + e.Message);
            return 1;
        }
    }
}
