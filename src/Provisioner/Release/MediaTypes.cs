namespace Provisioner.Release;

/// <summary>Manifest media types the registry understands (OCI image spec and Docker image manifest v2 schema 2).</summary>
internal static class MediaTypes
{
    public const string OciManifest = "application/vnd.oci.image.manifest.v1+json";
    public const string OciIndex = "application/vnd.oci.image.index.v1+json";
    public const string DockerManifest = "application/vnd.docker.distribution.manifest.v2+json";
    public const string DockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json";

    public static bool IsIndex(string mediaType) => mediaType is OciIndex or DockerManifestList;
    public static bool IsManifest(string mediaType) => mediaType is OciManifest or DockerManifest;
}
