using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using System.Text;
using Provisioner.Ignition;
using Provisioner.Pki;
using Provisioner.Profiles;
using Provisioner.Tokens;

namespace Provisioner.Cluster;

/// <summary>A file a machine's Ignition writes: its path on the machine, contents and mode.</summary>
internal sealed record MachineFile(string Path, string Content, int Mode)
{
    public const int Public = 0b110_100_100; // 0644
    public const int Private = 0b110_000_000; // 0600
}

/// <summary>
/// What one machine gets from the cluster directory, decided here and nowhere else (the key-distribution rule):
/// <list type="bullet">
/// <item>worker: the cluster CA certificate and its bootstrap kubeconfig (its own token). No private key at all;
///   the kubelet generates its own.</item>
/// <item>control-plane: the keys its API server, controller-manager (CSR signing: <c>ca.key</c>) and scheduler
///   need, its own etcd serving/peer pair, its static pods. Not the etcd or front-proxy CA keys, not another
///   machine's etcd keys, not the admin credentials.</item>
/// <item>bootstrap: the same shared control-plane keys for its temporary control plane, the admin kubeconfig
///   (bootkube applies manifests with it), <c>bootstrap-manifests/</c> and <c>manifests/</c>; in a single-machine
///   cluster also its etcd pair and a bootstrap kubeconfig, since it stays the control plane.</item>
/// </list>
/// </summary>
internal sealed record MachineMaterial(
    MachineKind Kind,
    ClusterAssetSet Assets,
    BootstrapToken? Token,
    ImmutableArray<MachineFile> Files,
    string BootstrapKubeconfig)
{
    /// <summary>Keys and certificates every machine running control-plane components needs (paths below tls/ and /etc/kubernetes/pki).</summary>
    public static readonly ImmutableArray<string> SharedControlPlanePki =
    [
        "ca.crt", "ca.key", "sa.key", "sa.pub", "front-proxy-ca.crt", "front-proxy-client.crt", "front-proxy-client.key",
        "apiserver.crt", "apiserver.key", "apiserver-kubelet-client.crt", "apiserver-kubelet-client.key",
        "apiserver-etcd-client.crt", "apiserver-etcd-client.key", "etcd/ca.crt",
    ];

    public static MachineMaterial For(ClusterAssetSet assets, MachineSpec machine, BootstrapToken? token)
    {
        var topology = assets.Topology;
        var kind = topology.KindOf(machine);
        if (topology.JoinsWithToken(machine) && token is null)
            throw new ArgumentException($"machine {machine.Name} joins with a bootstrap token but none was given", nameof(token));
        if (token is not null && token.MachineName != machine.Name)
            throw new ArgumentException($"token {token.Id} belongs to {token.MachineName}, not {machine.Name}", nameof(token));

        var files = new List<MachineFile>();
        void Pki(string tlsPath, string? asPath = null) =>
            files.Add(new MachineFile(MachinePaths.PkiFile(asPath ?? tlsPath), assets[$"tls/{tlsPath}"], tlsPath.EndsWith(".key", StringComparison.Ordinal) ? MachineFile.Private : MachineFile.Public));
        void Etcd(MachineSpec member)
        {
            foreach (var part in new[] { "server.crt", "server.key", "peer.crt", "peer.key" })
                Pki($"etcd/{member.Name}/{part}", $"etcd/{part}");
        }
        void Secret(string path, string assetPath) => files.Add(new MachineFile(path, assets[assetPath], MachineFile.Private));

        var bootstrapKubeconfig = token is null ? "" : Kubeconfigs.ForToken(topology.Cluster.Name, topology.ApiServerUrl,
            assets.CaCertificate, "kubelet-bootstrap", token.Value);
        switch (kind)
        {
            case MachineKind.Worker:
                Pki("ca.crt");
                break;
            case MachineKind.ControlPlane:
                foreach (var f in SharedControlPlanePki) Pki(f);
                Etcd(machine);
                Secret(MachinePaths.ControllerManagerKubeconfig, ClusterAssetSet.ControllerManagerKubeconfig);
                Secret(MachinePaths.SchedulerKubeconfig, ClusterAssetSet.SchedulerKubeconfig);
                foreach (var (path, file) in assets.Files.Where(f => f.Key.StartsWith($"{ClusterAssetSet.ControlPlaneDir}/{machine.Name}/", StringComparison.Ordinal)))
                    files.Add(new MachineFile($"{MachinePaths.StaticPods}/{Path.GetFileName(path)}", file.Content, MachineFile.Public));
                break;
            case MachineKind.Bootstrap:
                foreach (var f in SharedControlPlanePki) Pki(f);
                if (topology.SingleMachine) Etcd(machine);
                Secret(MachinePaths.AdminKubeconfig, ClusterAssetSet.AdminKubeconfig);
                Secret(MachinePaths.ControllerManagerKubeconfig, ClusterAssetSet.ControllerManagerKubeconfig);
                Secret(MachinePaths.SchedulerKubeconfig, ClusterAssetSet.SchedulerKubeconfig);
                foreach (var (path, file) in assets.Files)
                {
                    if (path.StartsWith(ClusterAssetSet.BootstrapManifestsDir + "/", StringComparison.Ordinal))
                        files.Add(new MachineFile($"{MachinePaths.BootstrapStaticPods}/{Path.GetFileName(path)}", file.Content, MachineFile.Public));
                    else if (path.StartsWith(ClusterAssetSet.ManifestsDir + "/", StringComparison.Ordinal))
                        files.Add(new MachineFile($"{MachinePaths.BootstrapManifests}/{Path.GetFileName(path)}", file.Content,
                            file.IsPrivate ? MachineFile.Private : MachineFile.Public));
                }
                break;
        }
        if (token is not null)
            files.Add(new MachineFile(MachinePaths.BootstrapKubeletKubeconfig, bootstrapKubeconfig, MachineFile.Private));
        return new MachineMaterial(kind, assets, token, [.. files], bootstrapKubeconfig);
    }

    /// <summary>The token a validation render uses: the right shape, obviously not real, never persisted.</summary>
    public static BootstrapToken PlaceholderToken(string machineName) =>
        new("000000", "0000000000000000", machineName, DateTimeOffset.UnixEpoch, DateTimeOffset.MaxValue);

    private static readonly ConditionalWeakTable<ProfileSet, ClusterAssetSet> PlaceholderSets = new();

    /// <summary>
    /// Material with stand-in keys and a placeholder token, for renders that only validate templates
    /// (CatalogLoader renders every machine at load): same files and values as a real render, nothing minted.
    /// </summary>
    public static MachineMaterial Placeholder(ProfileSet profiles, MachineSpec machine)
    {
        var set = PlaceholderSets.GetValue(profiles, p =>
        {
            var pki = new PkiOptions();
            var topology = ClusterTopology.For(p, pki);
            var tokens = p.Machines.Where(topology.JoinsWithToken).Select(m => PlaceholderToken(m.Name));
            return ClusterAssetSet.Build(topology, TlsMaterial.Placeholders(ClusterPkiPlan.For(p, pki)), tokens);
        });
        return For(set, machine, set.Topology.JoinsWithToken(machine) ? PlaceholderToken(machine.Name) : null);
    }

    /// <summary>Ignition <c>storage.files</c> entries (as template values): data URLs, gzip-compressed when that helps.</summary>
    public IReadOnlyList<IReadOnlyDictionary<string, object>> IgnitionFiles() =>
    [
        .. Files.Select(f =>
        {
            var resource = DataUrl.ForContents(Encoding.UTF8.GetBytes(f.Content));
            var contents = new Dictionary<string, object>(StringComparer.Ordinal) { ["source"] = resource.Source! };
            if (resource.Compression is { } compression) contents["compression"] = compression;
            return (IReadOnlyDictionary<string, object>)new Dictionary<string, object>(StringComparer.Ordinal)
            {
                ["path"] = f.Path,
                ["mode"] = f.Mode,
                ["overwrite"] = true,
                ["contents"] = contents,
            };
        }),
    ];
}
