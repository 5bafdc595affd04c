using System.Collections.Immutable;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;
using Provisioner.Primitives;

namespace Provisioner.Profiles;

/// <summary>
/// Reads the <c>release:</c> section of a profile file with the profiles' <see cref="YamlNodeReader"/>, so every
/// problem carries file:line:column and the field path like the rest of the profiles.
/// <code>
/// release:
///   kubernetesVersion: v1.31.2
///   images:
///     kube-apiserver: {image: registry.k8s.io/kube-apiserver:v1.31.2, digest: "sha256:…"}
///   artifacts:
///     x86_64:
///       fcos/kernel: {url: https://…/kernel-x86_64, sha256: …}
/// </code>
/// </summary>
internal static partial class ReleaseSection
{
    [GeneratedRegex(@"^v\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")]
    private static partial Regex KubernetesVersion();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex ComponentName();

    // Registry host: has a dot or a port, or is localhost (the distribution reference grammar's rule).
    [GeneratedRegex(@"^(localhost|[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+|[A-Za-z0-9.-]+:\d+|\[[0-9a-fA-F:]+\](:\d+)?)$")]
    private static partial Regex RegistryHost();

    public static ReleaseSpec? Read(YamlNodeReader r)
    {
        var version = r.String("kubernetesVersion", required: true);
        if (version is not null && !KubernetesVersion().IsMatch(version))
        {
            r.Error(r.Raw("kubernetesVersion")!, r.FieldPath("kubernetesVersion"), $"'{version}' is not a Kubernetes version like v1.31.2");
            version = null;
        }

        var images = new List<ReleaseImage>();
        if (r.Mapping("images", required: true) is { } imagesReader)
        {
            foreach (var (k, v) in imagesReader.Node.Children)
            {
                var component = (k as YamlScalarNode)?.Value ?? "";
                var path = imagesReader.FieldPath(component);
                imagesReader.Raw(component); // consumed
                if (!ComponentName().IsMatch(component))
                    imagesReader.Error(k, path, $"'{component}' is not a component name (lower-case letters, digits and '-')");
                if (v is not YamlMappingNode map)
                {
                    imagesReader.Error(v, path, "expected a mapping with image and digest");
                    continue;
                }
                if (ReadImage(new YamlNodeReader(map, r.File, path, r.Diagnostics), component) is { } image) images.Add(image);
            }
            foreach (var missing in ReleaseSpec.RequiredComponents.Where(c => !imagesReader.Node.Children.Keys.OfType<YamlScalarNode>().Any(k => k.Value == c)))
                imagesReader.Error($"the '{missing}' image is missing (a release names {string.Join(", ", ReleaseSpec.RequiredComponents)})");
        }

        if (version is not null)
            foreach (var image in images.Where(i => (i.Component.StartsWith("kube-", StringComparison.Ordinal) || i.Component == "kubelet") && i.Tag != version))
                r.Error(r.Raw("images")!, r.FieldPath($"images.{image.Component}.image"),
                    $"tag '{image.Tag}' differs from the release's kubernetesVersion {version}");

        var artifacts = new List<ReleaseArtifact>();
        if (r.Mapping("artifacts") is { } byArch)
        {
            foreach (var (k, v) in byArch.Node.Children)
            {
                var arch = (k as YamlScalarNode)?.Value ?? "";
                byArch.Raw(arch);
                var path = byArch.FieldPath(arch);
                if (!Architectures.Known.Contains(arch))
                {
                    byArch.Error(k, path, $"'{arch}' is not an architecture ({string.Join(", ", Architectures.Known)})");
                    continue;
                }
                if (YamlNodeReader.IsNull(v)) continue;
                if (v is not YamlMappingNode archMap)
                {
                    byArch.Error(v, path, "expected a mapping of artifact names to {url, sha256}");
                    continue;
                }
                foreach (var (nk, nv) in archMap.Children)
                {
                    var name = (nk as YamlScalarNode)?.Value ?? "";
                    var namePath = $"{path}.{name}";
                    var segments = name.Split('/');
                    if (name.Length == 0 || name.StartsWith('/') || name.Contains('\\') || segments.Any(s => s is "" or "." or ".." || s.StartsWith('.')))
                    {
                        byArch.Error(nk, namePath, $"'{name}' is not an artifact name (a clean relative path like fcos/kernel)");
                        continue;
                    }
                    if (nv is not YamlMappingNode artifactMap)
                    {
                        byArch.Error(nv, namePath, "expected a mapping with url and sha256");
                        continue;
                    }
                    if (ReadArtifact(new YamlNodeReader(artifactMap, r.File, namePath, r.Diagnostics), name, arch) is { } artifact)
                        artifacts.Add(artifact);
                }
            }
        }
        r.RejectUnknownKeys();
        if (version is null) return null;
        return new ReleaseSpec(version, [.. images], [.. artifacts], r.Location);
    }

    private static ReleaseImage? ReadImage(YamlNodeReader r, string component)
    {
        var text = r.String("image", required: true);
        var digestText = r.String("digest", required: true);
        r.RejectUnknownKeys();
        ReleaseImage? result = null;
        Digest? digest = null;
        if (digestText is not null && !Digest.TryParse(digestText, out digest, out var digestError))
            r.Error(r.Raw("digest")!, r.FieldPath("digest"), digestError);
        if (text is null) return null;
        var slash = text.IndexOf('/');
        var host = slash > 0 ? text[..slash] : "";
        if (slash <= 0 || !RegistryHost().IsMatch(host))
        {
            r.Error(r.Raw("image")!, r.FieldPath("image"), $"'{text}' must name its registry, like registry.k8s.io/{component}:TAG");
            return null;
        }
        if (text.Contains('@'))
        {
            r.Error(r.Raw("image")!, r.FieldPath("image"), $"'{text}': give the tag here and the digest in 'digest'");
            return null;
        }
        if (!ImageNames.TryParseReference(text[(slash + 1)..], out var repository, out var tag, out var error))
        {
            r.Error(r.Raw("image")!, r.FieldPath("image"), error);
            return null;
        }
        if (digest is not null) result = new ReleaseImage(component, host, repository, tag, digest);
        return result;
    }

    private static ReleaseArtifact? ReadArtifact(YamlNodeReader r, string name, string arch)
    {
        var urlText = r.String("url", required: true);
        var shaText = r.String("sha256", required: true);
        r.RejectUnknownKeys();
        Uri? url = null;
        if (urlText is not null)
        {
            if (Uri.TryCreate(urlText, UriKind.Absolute, out var u) && u.Scheme is "http" or "https" or "file") url = u;
            else r.Error(r.Raw("url")!, r.FieldPath("url"), $"'{urlText}' is not an http, https or file URL");
        }
        Digest? sha = null;
        if (shaText is not null)
        {
            var hex = shaText.StartsWith("sha256:", StringComparison.Ordinal) ? shaText["sha256:".Length..] : shaText;
            if (!Digest.TryParseHex(hex, out sha))
                r.Error(r.Raw("sha256")!, r.FieldPath("sha256"), $"'{shaText}' is not a sha256 (64 lower-case hex digits)");
        }
        return url is null || sha is null ? null : new ReleaseArtifact(name, arch, url, sha);
    }
}
