using System.Collections.Concurrent;
using System.Collections.Immutable;
using Provisioner.Ignition;
using Provisioner.Pki;
using Provisioner.Profiles;
using Provisioner.Tokens;
using Provisioner.Primitives;

using Provisioner.Cluster;

namespace Provisioner.Rendering;

/// <summary>Knobs of a cluster render; the defaults are what <c>provisioner render</c> and <c>serve</c> use.</summary>
internal sealed record ClusterRenderOptions
{
    public PkiOptions Pki { get; init; } = new();

    /// <summary>How long a minted bootstrap token is valid (the window for a machine to boot and join).</summary>
    public TimeSpan TokenLifetime { get; init; } = TimeSpan.FromHours(24);
}

/// <summary>What a render did: files written (created or changed) and files left as they were.</summary>
internal sealed record ClusterRenderResult(PkiRenderResult Pki, ImmutableArray<string> Written, ImmutableArray<string> Unchanged, ImmutableArray<string> Removed);

/// <summary>
/// Renders the cluster directory (<c>auth/ tls/ bootstrap-manifests/ manifests/ control-plane/ ignition/</c>),
/// like <c>kubeadm init phase certs|kubeconfig|control-plane</c> plus per-machine Ignition. Idempotent: a file
/// whose content would not change is not touched (same bytes, same mtime), keys and CAs are reused, and every
/// write is atomic, so a crash leaves the previous set intact.
/// </summary>
internal static class ClusterRenderer
{
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> DirLocks = new();

    // Directories whose content is derived entirely from the render: files no longer produced are removed.
    private static readonly string[] GeneratedDirs =
        [ClusterAssetSet.BootstrapManifestsDir, ClusterAssetSet.ManifestsDir, ClusterAssetSet.ControlPlaneDir, ClusterAssetSet.IgnitionDir];

    public static string TokenFile(string clusterDir) => Path.Combine(clusterDir, ClusterAssetSet.AuthDir, BootstrapTokenStore.FileName);

    public static async Task<ClusterRenderResult> RenderAsync(ProfileSet profiles, IgnitionTemplateSet templates, IgnitionRenderer renderer,
        string clusterDir, BootstrapTokenStore tokens, Uri provisionerBaseUrl, ClusterRenderOptions options, CancellationToken ct,
        IReadOnlySet<string>? joinedMachines = null)
    {
        clusterDir = Path.GetFullPath(clusterDir);
        var gate = DirLocks.GetOrAdd(clusterDir, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            var topology = ClusterTopology.For(profiles, options.Pki);
            var plan = ClusterPkiPlan.For(profiles, options.Pki);
            var tlsDir = Path.Combine(clusterDir, ClusterAssetSet.TlsDir);
            var pki = await ClusterPki.RenderAsync(plan, tlsDir, ct);
            await AtomicFile.RecoverAsync(clusterDir, ct);

            // Machines whose node joined had their tokens revoked: a render must not bring them back.
            var machineTokens = await tokens.GetOrMintAsync(profiles.Machines
                .Where(m => topology.JoinsWithToken(m) && joinedMachines?.Contains(m.Name) != true).Select(m => m.Name), ct);

            var tls = await TlsMaterial.ReadAsync(plan, tlsDir, ct);
            var assets = ClusterAssetSet.Build(topology, tls, tokens.All);
            var wanted = new Dictionary<string, AssetFile>(StringComparer.Ordinal);
            foreach (var (path, file) in assets.Files)
                if (!path.StartsWith(ClusterAssetSet.TlsDir + "/", StringComparison.Ordinal))
                    wanted[path] = file;
            foreach (var machine in profiles.Machines)
            {
                // A joined machine's token is revoked: a config for it would carry none, and it needs none now.
                if (topology.JoinsWithToken(machine) && !machineTokens.ContainsKey(machine.Name)) continue;
                var material = MachineMaterial.For(assets, machine, machineTokens.GetValueOrDefault(machine.Name));
                var config = renderer.Render(templates, profiles, machine, provisionerBaseUrl, material);
                // Carries the machine's keys and token: private.
                wanted[$"{ClusterAssetSet.IgnitionDir}/{machine.Name}.ign"] = new AssetFile(IgnitionJson.Serialize(config) + "\n", true);
            }

            // Each write is fsync'ed; doing several at once lets the file system batch them.
            var changed = new System.Collections.Concurrent.ConcurrentDictionary<string, bool>(StringComparer.Ordinal);
            await Parallel.ForEachAsync(wanted, new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = ct },
                async (entry, token) => changed[entry.Key] = await WriteIfChangedAsync(Path.Combine(clusterDir, entry.Key), entry.Value, token));
            var written = changed.Where(c => c.Value).Select(c => c.Key).Order(StringComparer.Ordinal).ToList();
            var unchanged = changed.Where(c => !c.Value).Select(c => c.Key).Order(StringComparer.Ordinal).ToList();
            var removed = new List<string>();
            foreach (var dir in GeneratedDirs.Select(d => Path.Combine(clusterDir, d)).Where(Directory.Exists))
                foreach (var file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
                {
                    var relative = Path.GetRelativePath(clusterDir, file).Replace(Path.DirectorySeparatorChar, '/');
                    if (wanted.ContainsKey(relative)) continue;
                    File.Delete(file);
                    removed.Add(relative);
                }
            return new ClusterRenderResult(pki, [.. written], [.. unchanged], [.. removed]);
        }
        finally
        {
            gate.Release();
        }
    }

    /// <summary>Writes only when the content differs, so an unchanged file keeps its mtime; modes are enforced either way.</summary>
    private static async Task<bool> WriteIfChangedAsync(string path, AssetFile file, CancellationToken ct)
    {
        var mode = file.IsPrivate ? AtomicFile.PrivateMode : AtomicFile.PublicMode;
        if (File.Exists(path) && await File.ReadAllTextAsync(path, ct) == file.Content)
        {
            AtomicFile.EnsureMode(path, mode);
            return false;
        }
        await AtomicFile.WriteAsync(path, file.Content, mode, ct);
        return true;
    }
}
