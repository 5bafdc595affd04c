using System.Collections.Immutable;
using System.Net;
using Provisioner.Profiles;

namespace Provisioner.Approval;

/// <summary>What the policy asks about the world. The worker answers from profiles, tokens and the API server.</summary>
internal interface ICsrInventory
{
    /// <summary>The provisioned machine a node name belongs to (its name or one of its DNS names), or null.</summary>
    MachineFacts? FindMachineByNodeName(string nodeName);

    /// <summary>The machine name a per-machine bootstrap token id was issued to, or null when the provisioner did not issue it.</summary>
    string? MachineForBootstrapToken(string tokenId);

    /// <summary>The Node object of that name, or null when none exists yet.</summary>
    NodeFacts? FindNode(string nodeName);

    /// <summary>
    /// Pending CSRs the machine sent (as its node or with its bootstrap tokens), the one being decided included;
    /// of its first-join CSRs only the newest counts.
    /// </summary>
    int PendingForMachine(string machineName);

    /// <summary>
    /// A first-join CSR (pending or approved) that the machine sent for its own node with one of its bootstrap
    /// tokens after <paramref name="csrName"/>, or null: then <paramref name="csrName"/> is superseded.
    /// </summary>
    string? NewerFirstJoinCsr(string machineName, string csrName);

    /// <summary>All pending CSRs in the cluster, the one being decided included.</summary>
    int TotalPending { get; }

    /// <summary>How many machines the provisioner knows; the cluster-wide pending cap scales with it.</summary>
    int MachineCount { get; }
}

/// <summary>A machine from the profiles plus the time it last fetched its Ignition config.</summary>
internal sealed record MachineFacts(
    string Name,
    ImmutableArray<string> DnsNames,
    ImmutableArray<IPAddress> Addresses,
    DateTimeOffset? LastIgnitionFetch)
{
    /// <summary>Host names are the machine name and its FQDN; addresses are the static profile address, if any.</summary>
    public static MachineFacts FromProfile(MachineSpec machine, ClusterSpec cluster, DateTimeOffset? lastIgnitionFetch) =>
        new(machine.Name,
            [machine.Name, machine.Fqdn(cluster)],
            machine.Network.Address is { } address ? [address] : [],
            lastIgnitionFetch);
}

/// <summary>A Node object's name and the IPs from its status addresses.</summary>
internal sealed record NodeFacts(string Name, ImmutableArray<IPAddress> Addresses);

/// <summary>An immutable, in-memory <see cref="ICsrInventory"/>: the worker builds one per reconcile pass.</summary>
internal sealed record InventorySnapshot(
    ImmutableArray<MachineFacts> Machines,
    ImmutableDictionary<string, string> BootstrapTokenMachines,
    ImmutableArray<NodeFacts> Nodes,
    ImmutableDictionary<string, int> PendingByMachine,
    int TotalPending,
    ImmutableDictionary<string, string>? SupersededBy = null) : ICsrInventory
{
    public MachineFacts? FindMachineByNodeName(string nodeName) =>
        Machines.FirstOrDefault(m =>
            string.Equals(m.Name, nodeName, StringComparison.OrdinalIgnoreCase) ||
            m.DnsNames.Contains(nodeName, StringComparer.OrdinalIgnoreCase));

    public string? MachineForBootstrapToken(string tokenId) => BootstrapTokenMachines.GetValueOrDefault(tokenId);

    public NodeFacts? FindNode(string nodeName) =>
        Nodes.FirstOrDefault(n => string.Equals(n.Name, nodeName, StringComparison.Ordinal));

    public int PendingForMachine(string machineName) => PendingByMachine.GetValueOrDefault(machineName);

    public string? NewerFirstJoinCsr(string machineName, string csrName) => SupersededBy?.GetValueOrDefault(csrName);

    public int MachineCount => Machines.Length;
}
