using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using k8s.Models;
using Provisioner.Catalog;
using Provisioner.Inventory;
using Provisioner.Profiles;
using Provisioner.Tokens;

namespace Provisioner.Approval;

/// <summary>
/// What the leader knows while it decides: profiles (indexed once per loaded profile set), Ignition fetches
/// and issued tokens (read live), and the pending CSRs per node, kept current as the CSR cache changes. Every
/// lookup a decision makes is a hash lookup, so a join storm of a thousand machines costs a thousand
/// decisions, not a thousand passes over everything.
/// </summary>
internal sealed class ClusterInventory(CatalogStore catalog, MachineRegistry registry, BootstrapTokenStore tokens, TimeProvider time)
{
    private const string NodePrefix = "system:node:";

    private readonly MachineRegistry _registry = registry;
    private readonly BootstrapTokenStore _tokens = tokens;
    private readonly TimeProvider _time = time;

    // A CSR's facts by uid: its spec is immutable, so its request is parsed once for counting and deciding.
    private readonly ConcurrentDictionary<string, CsrFacts> _factsByUid = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private readonly Dictionary<string, string?> _pendingNodeByCsr = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _pendingByNode = new(StringComparer.OrdinalIgnoreCase);
    private MachineIndex _machines = MachineIndex.Empty;

    /// <summary>CSRs pending (neither approved nor denied, and not approved by this process) in the cluster.</summary>
    public int TotalPending { get { lock (_gate) return _pendingNodeByCsr.Count; } }

    /// <summary>Records whether <paramref name="csr"/> is pending; call on every change the CSR cache sees.</summary>
    public void Track(V1CertificateSigningRequest csr, bool pending)
    {
        var node = pending ? NodeNameOf(csr) : null;
        lock (_gate)
        {
            RemoveLocked(csr.Metadata.Name);
            if (!pending) return;
            _pendingNodeByCsr[csr.Metadata.Name] = node;
            if (node is not null) _pendingByNode[node] = _pendingByNode.GetValueOrDefault(node) + 1;
        }
    }

    /// <summary>Forgets a deleted CSR.</summary>
    public void Forget(V1CertificateSigningRequest csr)
    {
        _factsByUid.TryRemove(Key(csr), out _);
        lock (_gate) RemoveLocked(csr.Metadata.Name);
    }

    private void RemoveLocked(string csrName)
    {
        if (!_pendingNodeByCsr.Remove(csrName, out var node) || node is null) return;
        if (_pendingByNode[node] is var n && n <= 1) _pendingByNode.Remove(node);
        else _pendingByNode[node] = n - 1;
    }

    /// <summary>The node a kubelet CSR asks for: the subject CN of a client CSR, the requester of a serving CSR.</summary>
    public string? NodeNameOf(V1CertificateSigningRequest csr) => FactsOf(csr) switch
    {
        { SignerName: CsrSigners.KubeletServing, Username: var user } when user.StartsWith(NodePrefix, StringComparison.Ordinal) => user[NodePrefix.Length..],
        { SignerName: CsrSigners.KubeletClient } facts => facts.Parsed.Request?.Subject
            .Select(a => a.Value).FirstOrDefault(v => v?.StartsWith(NodePrefix, StringComparison.Ordinal) == true)?[NodePrefix.Length..],
        _ => null,
    };

    /// <summary>What the policy sees of <paramref name="csr"/>, made once per CSR.</summary>
    public CsrFacts FactsOf(V1CertificateSigningRequest csr) => _factsByUid.GetOrAdd(Key(csr), _ => Facts(csr));

    /// <summary>The inventory one decision sees, with the cluster's Nodes as <paramref name="findNode"/> knows them.</summary>
    public ICsrInventory For(Func<string, NodeFacts?> findNode) => new View(this, findNode);

    public static NodeFacts ToNodeFacts(V1Node node) => new(
        node.Metadata.Name,
        [.. (node.Status?.Addresses ?? []).Select(a => IPAddress.TryParse(a.Address, out var ip) ? ip : null).OfType<IPAddress>()]);

    private static CsrFacts Facts(V1CertificateSigningRequest csr) => new(
        csr.Metadata.Name,
        csr.Spec.SignerName ?? "",
        csr.Spec.Request ?? [],
        [.. csr.Spec.Usages ?? []],
        csr.Spec.Username ?? "",
        [.. csr.Spec.Groups ?? []],
        csr.Metadata.CreationTimestamp is { } created ? new DateTimeOffset(DateTime.SpecifyKind(created, DateTimeKind.Utc)) : DateTimeOffset.UtcNow);

    public static bool IsDecided(V1CertificateSigningRequest csr) =>
        csr.Status?.Conditions?.Any(c => c.Type is "Approved" or "Denied" && c.Status != "False") == true;

    public static bool IsApproved(V1CertificateSigningRequest csr) =>
        csr.Status?.Conditions?.Any(c => c.Type == "Approved" && c.Status != "False") == true;

    private static string Key(V1CertificateSigningRequest csr) => csr.Metadata.Uid ?? csr.Metadata.Name;

    private MachineIndex Machines()
    {
        var profiles = catalog.Current.Profiles;
        var index = Volatile.Read(ref _machines);
        if (ReferenceEquals(index.Profiles, profiles)) return index;
        index = new MachineIndex(profiles);
        Volatile.Write(ref _machines, index);
        return index;
    }

    private int PendingFor(MachineSpec machine, ClusterSpec cluster)
    {
        lock (_gate)
        {
            var fqdn = machine.Fqdn(cluster);
            var count = _pendingByNode.GetValueOrDefault(machine.Name);
            if (!string.Equals(fqdn, machine.Name, StringComparison.OrdinalIgnoreCase)) count += _pendingByNode.GetValueOrDefault(fqdn);
            return count;
        }
    }

    /// <summary>The profiles' machines by every name a node of theirs may have (name and FQDN, case-insensitive).</summary>
    private sealed class MachineIndex
    {
        public static readonly MachineIndex Empty = new(null);

        private readonly Dictionary<string, MachineSpec> _byNodeName = new(StringComparer.OrdinalIgnoreCase);

        public MachineIndex(ProfileSet? profiles)
        {
            Profiles = profiles;
            if (profiles is null) return;
            foreach (var machine in profiles.Machines)
            {
                _byNodeName.TryAdd(machine.Name, machine);
                _byNodeName.TryAdd(machine.Fqdn(profiles.Cluster), machine);
            }
        }

        public ProfileSet? Profiles { get; }

        public MachineSpec? Find(string nodeName) => _byNodeName.GetValueOrDefault(nodeName);
    }

    private sealed class View(ClusterInventory inventory, Func<string, NodeFacts?> findNode) : ICsrInventory
    {
        private readonly MachineIndex _machines = inventory.Machines();

        public MachineFacts? FindMachineByNodeName(string name) =>
            _machines.Find(name) is { } machine
                ? MachineFacts.FromProfile(machine, _machines.Profiles!.Cluster, inventory._registry.LastIgnitionFetch(machine.Name))
                : null;

        public string? MachineForBootstrapToken(string tokenId) =>
            inventory._tokens.FindById(tokenId) is { } token && !token.IsExpiredAt(inventory._time.GetUtcNow()) ? token.MachineName : null;

        public NodeFacts? FindNode(string name) => findNode(name);

        public int PendingForMachine(string machineName) =>
            _machines.Find(machineName) is { } machine ? inventory.PendingFor(machine, _machines.Profiles!.Cluster) : 0;

        public int TotalPending => inventory.TotalPending;

        public int MachineCount => _machines.Profiles?.Machines.Length ?? 0;
    }
}
