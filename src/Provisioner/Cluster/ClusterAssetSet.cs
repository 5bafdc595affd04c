using System.Collections.Immutable;
using System.Text;
using Provisioner.Pki;
using Provisioner.Tokens;
using Provisioner.Primitives;

namespace Provisioner.Cluster;

/// <summary>One file of the cluster directory; private files (keys, kubeconfigs with credentials) are 0600.</summary>
internal sealed record AssetFile(string Content, bool IsPrivate);

/// <summary>
/// The cluster directory in memory, keyed by path relative to it (<c>tls/ca.crt</c>, <c>auth/admin.kubeconfig</c>,
/// <c>bootstrap-manifests/…</c>, <c>manifests/…</c>, <c>control-plane/&lt;machine&gt;/…</c>). Built from the
/// keys and certificates in <c>tls/</c> and the bootstrap tokens; everything else is derived, so the same inputs
/// always give the same bytes (which is what makes re-rendering a no-op).
/// </summary>
internal sealed record ClusterAssetSet(ClusterTopology Topology, ImmutableSortedDictionary<string, AssetFile> Files)
{
    public const string AuthDir = "auth";
    public const string TlsDir = "tls";
    public const string BootstrapManifestsDir = "bootstrap-manifests";
    public const string ManifestsDir = "manifests";
    public const string ControlPlaneDir = "control-plane";
    public const string IgnitionDir = "ignition";

    public const string AdminKubeconfig = "auth/admin.kubeconfig";
    public const string ControllerManagerKubeconfig = "auth/controller-manager.kubeconfig";
    public const string SchedulerKubeconfig = "auth/scheduler.kubeconfig";
    public const string ApproverKubeconfig = "auth/provisioner-approver.kubeconfig";

    public string this[string path] => Files.TryGetValue(path, out var f) ? f.Content : throw new KeyNotFoundException($"no '{path}' in the cluster assets");

    /// <summary>The kubernetes CA certificate (PEM).</summary>
    public string CaCertificate => this["tls/ca.crt"];

    /// <param name="tls">Contents of <c>tls/</c> by relative path, as <see cref="TlsMaterial"/> reads them.</param>
    /// <param name="tokens">Bootstrap tokens to publish as Secrets (unexpired ones at render time).</param>
    public static ClusterAssetSet Build(ClusterTopology topology, IReadOnlyDictionary<string, string> tls, IEnumerable<BootstrapToken> tokens)
    {
        var files = ImmutableSortedDictionary.CreateBuilder<string, AssetFile>(StringComparer.Ordinal);
        foreach (var (path, content) in tls)
            files[$"{TlsDir}/{path}"] = new AssetFile(content, IsPrivate: path.EndsWith(".key", StringComparison.Ordinal));

        string Tls(string path) => tls.TryGetValue(path, out var c) ? c : throw new ClusterRenderException($"tls/{path} is missing; render the cluster directory first");
        var ca = Tls("ca.crt");
        var name = topology.Cluster.Name;
        files[AdminKubeconfig] = new AssetFile(Kubeconfigs.ForCertificate(name, topology.ApiServerUrl, ca, "kubernetes-admin", Tls("admin.crt"), Tls("admin.key")), true);
        // Loopback: both run beside an API server (bootstrap or control-plane machine) and must not depend on the VIP.
        files[ControllerManagerKubeconfig] = new AssetFile(Kubeconfigs.ForCertificate(name, ClusterTopology.LoopbackApiServerUrl, ca,
            "system:kube-controller-manager", Tls("controller-manager.crt"), Tls("controller-manager.key")), true);
        files[SchedulerKubeconfig] = new AssetFile(Kubeconfigs.ForCertificate(name, ClusterTopology.LoopbackApiServerUrl, ca,
            "system:kube-scheduler", Tls("scheduler.crt"), Tls("scheduler.key")), true);
        files[ApproverKubeconfig] = new AssetFile(Kubeconfigs.ForCertificate(name, topology.ApiServerUrl, ca,
            ClusterPkiPlan.ApproverUser, Tls(ClusterPkiPlan.ApproverClient + ".crt"), Tls(ClusterPkiPlan.ApproverClient + ".key")), true);

        foreach (var bootstrap in topology.Bootstrap)
            foreach (var (file, pod) in StaticPods.ForBootstrap(topology, bootstrap))
                files[$"{BootstrapManifestsDir}/{file}"] = new AssetFile(Yaml([pod]), false);
        foreach (var machine in topology.ControlPlane)
            foreach (var (file, pod) in StaticPods.ForControlPlane(topology, machine))
                files[$"{ControlPlaneDir}/{machine.Name}/{file}"] = new AssetFile(Yaml([pod]), false);

        var live = tokens.Where(t => !t.IsExpiredAt(topology.Pki.Clock.GetUtcNow())).OrderBy(t => t.MachineName, StringComparer.Ordinal).ThenBy(t => t.Id, StringComparer.Ordinal);
        foreach (var (file, objects) in ClusterManifests.All(topology, ca, live))
            // Token Secrets hold credentials: private like the rest of the secrets.
            files[$"{ManifestsDir}/{file}"] = new AssetFile(Yaml(objects), file == ClusterManifests.BootstrapTokensFile);
        return new ClusterAssetSet(topology, files.ToImmutable());
    }

    /// <summary>Multi-document YAML in KubernetesClient's serialization (what its loader reads back).</summary>
    public static string Yaml(IEnumerable<object> objects)
    {
        var sb = new StringBuilder();
        foreach (var o in objects)
        {
            if (sb.Length > 0) sb.Append("---\n");
            var text = YamlEmitter.Serialize(o);
            sb.Append(text);
            if (!text.EndsWith('\n')) sb.Append('\n');
        }
        return sb.ToString();
    }
}

/// <summary>Reads the keys and certificates of a rendered <c>tls/</c> directory, or makes stand-ins for validation.</summary>
internal static class TlsMaterial
{
    /// <summary>Every file of the plan (certificates, keys, <c>sa.key</c>/<c>sa.pub</c>) by relative path.</summary>
    public static IEnumerable<string> FilesOf(ClusterPkiPlan plan) =>
        plan.Certificates.SelectMany(c => new[] { c.CertificateFile, c.KeyFile })
            .Append(ClusterPkiPlan.ServiceAccountKeyFile).Append(ClusterPkiPlan.ServiceAccountPublicKeyFile);

    public static async Task<IReadOnlyDictionary<string, string>> ReadAsync(ClusterPkiPlan plan, string tlsDir, CancellationToken ct)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var file in FilesOf(plan))
        {
            var path = Path.Combine(tlsDir, file);
            try { result[file] = await File.ReadAllTextAsync(path, ct); }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
            {
                throw new ClusterRenderException($"{path} is missing; run `provisioner render` (or restart `serve`) to create it", e);
            }
        }
        return result;
    }

    /// <summary>
    /// Stand-ins with the right file names, so a validation render has the same shape as a real one without
    /// generating keys (or minting tokens). They are not PEM and would never pass for real keys.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Placeholders(ClusterPkiPlan plan) =>
        FilesOf(plan).ToDictionary(f => f, f => $"placeholder for tls/{f} (rendered by provisioner render)\n", StringComparer.Ordinal);
}
