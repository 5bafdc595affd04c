using System.Collections.Immutable;
using System.Net;
using Provisioner.Pki;
using Provisioner.Profiles;
using Provisioner.Primitives;

namespace Provisioner.Cluster;

/// <summary>What a machine does in the bootstrap topology; decides which files its Ignition carries.</summary>
internal enum MachineKind
{
    /// <summary>Runs the temporary control plane (and, in a single-machine cluster, the permanent one).</summary>
    Bootstrap,
    /// <summary>Runs etcd and the control-plane components as static pods, kubeadm style.</summary>
    ControlPlane,
    /// <summary>Runs a kubelet that joins with its bootstrap token; no private key of any kind.</summary>
    Worker,
}

/// <summary>
/// The bootstrap topology derived from the profiles: control-plane machines run etcd and the control plane as
/// static pods; the bootstrap machine runs a temporary apiserver/controller-manager/scheduler against their etcd
/// and steps aside. With no control-plane machine at all, the bootstrap machine runs etcd locally and stays the
/// control plane (single-machine cluster).
/// </summary>
internal sealed record ClusterTopology(
    ProfileSet Profiles,
    ImmutableArray<MachineSpec> ControlPlane,
    ImmutableArray<MachineSpec> Bootstrap,
    PkiOptions Pki)
{
    public const int ApiServerPort = 6443;
    public const int EtcdClientPort = 2379;
    public const int EtcdPeerPort = 2380;

    public ClusterSpec Cluster => Profiles.Cluster;

    /// <summary>No control-plane machine: the bootstrap machine runs etcd and remains the control plane.</summary>
    public bool SingleMachine => ControlPlane.IsEmpty;

    /// <summary>The machines whose etcd members form the cluster (the bootstrap machine when single-machine).</summary>
    public ImmutableArray<MachineSpec> EtcdMembers => SingleMachine ? Bootstrap : ControlPlane;

    public static ClusterTopology For(ProfileSet profiles, PkiOptions pki)
    {
        var cp = profiles.Machines.Where(m => m.Role == pki.ControlPlaneRole).ToImmutableArray();
        var boot = profiles.Machines.Where(m => m.Role == pki.BootstrapRole).ToImmutableArray();
        if (cp.IsEmpty && boot.Length > 1)
            throw new ClusterRenderException(
                $"{boot[1].Location}: a cluster without control-plane machines runs on its single bootstrap machine, but there are {boot.Length} ({string.Join(", ", boot.Select(b => b.Name))})");
        return new ClusterTopology(profiles, cp, boot, pki);
    }

    public MachineKind KindOf(MachineSpec machine) =>
        machine.Role == Pki.BootstrapRole ? MachineKind.Bootstrap
        : machine.Role == Pki.ControlPlaneRole ? MachineKind.ControlPlane
        : MachineKind.Worker;

    /// <summary>Machines that join the API with a bootstrap token (the single bootstrap machine too: it stays a node).</summary>
    public bool JoinsWithToken(MachineSpec machine) => KindOf(machine) switch
    {
        MachineKind.Bootstrap => SingleMachine,
        _ => true,
    };

    /// <summary>The machine's address for URLs: its static IP, else its FQDN (DHCP machines have no IP known in advance).</summary>
    public string HostOf(MachineSpec machine) =>
        machine.Network.Address is { } ip ? UrlHost(ip.ToString()) : machine.Fqdn(Cluster);

    /// <summary>What etcd listens on besides loopback: the static IP, or every address when it is not known.</summary>
    public string ListenHostOf(MachineSpec machine) =>
        machine.Network.Address is { } ip ? UrlHost(ip.ToString()) : "0.0.0.0";

    public string ApiServerUrl => $"https://{UrlHost(Cluster.ApiEndpoint)}:{ApiServerPort}";

    public const string LoopbackApiServerUrl = "https://127.0.0.1:6443";

    public string EtcdClientUrl(MachineSpec m) => $"https://{HostOf(m)}:{EtcdClientPort}";

    public string EtcdPeerUrl(MachineSpec m) => $"https://{HostOf(m)}:{EtcdPeerPort}";

    /// <summary>etcd's <c>--initial-cluster</c>: every member's peer URL.</summary>
    public string InitialCluster => string.Join(',', EtcdMembers.Select(m => $"{m.Name}={EtcdPeerUrl(m)}"));

    /// <summary>The etcd endpoints of the members, for the temporary API server and bootkube's health check.</summary>
    public string EtcdServers => string.Join(',', EtcdMembers.Select(EtcdClientUrl));

    private static string UrlHost(string host) =>
        IPAddress.TryParse(host, out var ip) && ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{ip}]" : host;
}
