using System.Formats.Tar;
using System.IO.Compression;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Provisioner.Primitives;

namespace Provisioner.Tests.Registry;

/// <summary>A blob as the OCI spec describes it: media type, digest, size.</summary>
public sealed record TestDescriptor(string MediaType, string Digest, long Size, byte[] Content);

/// <summary>One architecture's image built in the test: layer, config, manifest.</summary>
public sealed record TestImage(string Architecture, TestDescriptor Layer, TestDescriptor Config, TestDescriptor Manifest);

/// <summary>
/// Writes real OCI image layouts (oci-layout, index.json, blobs/sha256/…) for tests: a tiny gzip'd layer tar
/// with one file, an image config with the layer's diff_id, a manifest, and for several architectures an image
/// index. Nothing comes from the network, so the tests know every digest they expect.
/// </summary>
internal sealed class OciLayoutBuilder
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string OciConfig = "application/vnd.oci.image.config.v1+json";
    public const string OciLayer = "application/vnd.oci.image.layer.v1.tar+gzip";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerConfig = "application/vnd.docker.container.image.v1+json";
    public const string DockerLayer = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    private readonly Dictionary<string, byte[]> _blobs = new(StringComparer.Ordinal);

    public IReadOnlyDictionary<string, byte[]> Blobs => _blobs;

    public static string Sha256(byte[] content) => "sha256:" + Convert.ToHexStringLower(SHA256.HashData(content));

    public TestDescriptor Add(string mediaType, byte[] content)
    {
        var digest = Sha256(content);
        _blobs[digest] = content;
        return new TestDescriptor(mediaType, digest, content.Length, content);
    }

    /// <summary>An image for <paramref name="architecture"/>; <paramref name="docker"/> uses Docker schema 2 media types.</summary>
    public TestImage Image(string architecture, string fileContent, bool docker = false, int layerBytes = 0)
    {
        var tar = new MemoryStream();
        using (var writer = new TarWriter(tar, TarEntryFormat.Pax, leaveOpen: true))
        {
            var data = Encoding.UTF8.GetBytes(fileContent);
            writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "hello.txt") { DataStream = new MemoryStream(data) });
            if (layerBytes > 0)
            {
                // Incompressible filler, for tests that need a blob larger than one read buffer.
                var filler = new byte[layerBytes];
                new Random(layerBytes).NextBytes(filler);
                writer.WriteEntry(new PaxTarEntry(TarEntryType.RegularFile, "filler.bin") { DataStream = new MemoryStream(filler) });
            }
        }
        var uncompressed = tar.ToArray();
        var gz = new MemoryStream();
        using (var g = new GZipStream(gz, CompressionLevel.Fastest, leaveOpen: true)) g.Write(uncompressed);
        var layer = Add(docker ? DockerLayer : OciLayer, gz.ToArray());

        var config = Add(docker ? DockerConfig : OciConfig, Json(new JsonObject
        {
            ["architecture"] = architecture,
            ["os"] = "linux",
            ["config"] = new JsonObject { ["Cmd"] = new JsonArray("/hello") },
            ["rootfs"] = new JsonObject { ["type"] = "layers", ["diff_ids"] = new JsonArray(Sha256(uncompressed)) },
        }));
        var manifest = Add(docker ? DockerManifest : OciManifest, Json(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["mediaType"] = docker ? DockerManifest : OciManifest,
            ["config"] = Descriptor(config),
            ["layers"] = new JsonArray(Descriptor(layer)),
        }));
        return new TestImage(architecture, layer, config, manifest);
    }

    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

    /// <summary>An OCI image index over <paramref name="images"/>, each with its platform.</summary>
    public TestDescriptor Index(params TestImage[] images) => Index(OciIndex, images);

    /// <summary>An index of the given media type (OCI index or Docker manifest list).</summary>
    public TestDescriptor Index(string mediaType, params TestImage[] images) => Add(mediaType, Json(new JsonObject
    {
        ["schemaVersion"] = 2,
        ["mediaType"] = mediaType,
        ["manifests"] = new JsonArray([.. images.Select(i =>
        {
            var d = Descriptor(i.Manifest);
            d["platform"] = new JsonObject { ["architecture"] = i.Architecture, ["os"] = "linux" };
            return (JsonNode)d;
        })]),
    }));

    /// <summary>Writes the layout with index.json pointing at <paramref name="roots"/> (ref name → descriptor).</summary>
    public string WriteLayout(string directory, params (string RefName, TestDescriptor Root)[] roots)
    {
        Directory.CreateDirectory(Path.Combine(directory, "blobs", "sha256"));
        foreach (var (digest, content) in _blobs)
            File.WriteAllBytes(Path.Combine(directory, "blobs", "sha256", digest["sha256:".Length..]), content);
        File.WriteAllText(Path.Combine(directory, "oci-layout"), """{"imageLayoutVersion":"1.0.0"}""");
        File.WriteAllBytes(Path.Combine(directory, "index.json"), Json(new JsonObject
        {
            ["schemaVersion"] = 2,
            ["manifests"] = new JsonArray([.. roots.Select(r =>
            {
                var d = Descriptor(r.Root);
                d["annotations"] = new JsonObject { ["org.opencontainers.image.ref.name"] = r.RefName };
                return (JsonNode)d;
            })]),
        }));
        return directory;
    }

    /// <summary>A tar archive of a layout (what <c>skopeo copy … oci-archive:FILE</c> writes).</summary>
    public static void TarLayout(string layoutDirectory, string archive) =>
        TarFile.CreateFromDirectory(layoutDirectory, archive, includeBaseDirectory: false);

    private static JsonObject Descriptor(TestDescriptor d) => new() { ["mediaType"] = d.MediaType, ["digest"] = d.Digest, ["size"] = d.Size };

    private static byte[] Json(JsonNode node) => Encoding.UTF8.GetBytes(node.ToJsonString(new JsonSerializerOptions { WriteIndented = false }));
}
