namespace Provisioner.Profiles;

/// <summary>
/// The <c>release</c> values Ignition templates see. Always present (empty lists, <c>present: false</c>) so
/// templates render under strict variables whether or not the profiles have a release section.
/// </summary>
internal static class ReleaseTemplateValues
{
    public static IReadOnlyDictionary<string, object> For(ReleaseSpec? release, Uri provisionerBaseUrl) =>
        new Dictionary<string, object>(StringComparer.Ordinal)
        {
            ["present"] = release is not null,
            ["kubernetes_version"] = release?.KubernetesVersion ?? "",
            // Registry clients name a mirror by host:port; Provisioner serves /v2/ on its own base URL.
            ["mirror"] = provisionerBaseUrl.Authority,
            ["mirror_url"] = provisionerBaseUrl.GetLeftPart(UriPartial.Authority),
            ["registries"] = release?.Registries.ToArray() ?? [],
            ["images"] = release?.Images.Select(i => (object)new Dictionary<string, object>(StringComparer.Ordinal)
            {
                ["component"] = i.Component,
                ["reference"] = i.Reference,
                ["pinned"] = i.PinnedReference,
                ["digest"] = i.Digest.ToString(),
            }).ToArray() ?? [],
        };
}
