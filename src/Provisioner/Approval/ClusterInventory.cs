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
/// What the leader knows while it decides: profiles (indexed once per loaded profile set), Ignition deliveries
/// (from the persisted machine state) and issued tokens (read live), and the pending CSRs by the node they name
/// and by who sent them, kept current as the CSR cache changes. Every lookup a decision makes is a hash lookup,
/// so a join storm of a thousand machines costs a thousand decisions, not a thousand passes over everything.
/// </summary>
internal sealed class ClusterInventory(CatalogStore catalog, MachineStateStore machineState, BootstrapTokenStore tokens, TimeProvider time)
{
    private const string NodePrefix = "system:node:";
    private const string BootstrapPrefix = BootstrapToken.UserPrefix;

    private readonly MachineStateStore _machineState = machineState;
    private readonly BootstrapTokenStore _tokens = tokens;
    private readonly TimeProvider _time = time;

    /// <summary>A CSR as the caps (pending ones) and the newest-first-join rule (pending and approved ones) see it.</summary>
    /// <remarks>
    /// Creation timestamps have one-second resolution; two requests of a restarting kubelet often share one. The
    /// resourceVersion a CSR had when first seen pending (its creation's etcd revision: a pending CSR is not written
    /// again until it is decided) then orders them. Where that is unknown, neither is newer.
    /// </remarks>
    private sealed record TrackedCsr(string Name, string? Node, string Requester, DateTimeOffset CreatedAt, long? Revision, bool FirstJoin)
    {
        public bool IsNewerThan(TrackedCsr other) =>
            CreatedAt != other.CreatedAt ? CreatedAt > other.CreatedAt
            : Revision is { } mine && other.Revision is { } theirs && mine > theirs;
    }

    // A CSR's facts by uid: its spec is immutable, so its request is parsed once for counting and deciding.
    private readonly ConcurrentDictionary<string, CsrFacts> _factsByUid = new(StringComparer.Ordinal);
    private readonly object _gate = new();
    private readonly Dictionary<string, TrackedCsr> _pending = new(StringComparer.Ordinal);
    // First-join CSRs (sent with a bootstrap token) that are pending or approved, by requester: an approved newer one
    // supersedes an older one that is still pending.
    private readonly Dictionary<string, Dictionary<string, TrackedCsr>> _firstJoinsByRequester = new(StringComparer.Ordinal);
    private readonly Dictionary<string, HashSet<string>> _pendingByNode = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, HashSet<string>> _pendingByRequester = new(StringComparer.Ordinal);
    private MachineIndex _machines = MachineIndex.Empty;

    /// <summary>CSRs pending (neither approved nor denied, and not approved by this process) in the cluster.</summary>
    public int TotalPending { get { lock (_gate) return _pending.Count; } }

    /// <summary>
    /// Records whether <paramref name="csr"/> is pending; call on every change the CSR cache sees. Returns true when
    /// it was pending and is no longer: what other CSRs of its machine were held for may have changed.
    /// </summary>
    public bool Track(V1CertificateSigningRequest csr, bool pending)
    {
        var firstJoin = csr.Spec.SignerName == CsrSigners.KubeletClient && csr.Spec.Username?.StartsWith(BootstrapPrefix, StringComparison.Ordinal) == true;
        var keepFirstJoin = firstJoin && (pending || IsApproved(csr));
        if (!pending && !keepFirstJoin)
        {
            // Decided and of no further use (a renewal, a serving CSR, a denied one): not parsed, only let go of.
            lock (_gate)
            {
                if (firstJoin) ForgetFirstJoinLocked(csr.Spec.Username!, csr.Metadata.Name);
                return RemoveLocked(csr.Metadata.Name);
            }
        }
        var facts = FactsOf(csr);
        var entry = new TrackedCsr(csr.Metadata.Name, NodeNameOf(csr), facts.Username, facts.CreatedAt,
            pending && long.TryParse(csr.Metadata.ResourceVersion, out var revision) ? revision : null, firstJoin);
        lock (_gate)
        {
            var removed = RemoveLocked(csr.Metadata.Name);
            if (firstJoin) TrackFirstJoinLocked(entry);
            if (!pending) return removed;
            _pending[entry.Name] = entry;
            if (entry.Node is not null) Add(_pendingByNode, entry.Node, entry.Name);
            Add(_pendingByRequester, entry.Requester, entry.Name);
            return false;
        }
    }

    private void TrackFirstJoinLocked(TrackedCsr entry)
    {
        if (!_firstJoinsByRequester.TryGetValue(entry.Requester, out var byName))
            _firstJoinsByRequester[entry.Requester] = byName = new Dictionary<string, TrackedCsr>(StringComparer.Ordinal);
        // The revision first seen pending is the creation's; an approval writes a later one.
        byName[entry.Name] = byName.TryGetValue(entry.Name, out var known) && known.Revision is not null ? entry with { Revision = known.Revision } : entry;
    }

    private void ForgetFirstJoinLocked(string requester, string csrName)
    {
        if (_firstJoinsByRequester.TryGetValue(requester, out var byName) && byName.Remove(csrName) && byName.Count == 0)
            _firstJoinsByRequester.Remove(requester);
    }

    /// <summary>Forgets a deleted CSR; true when it was pending.</summary>
    public bool Forget(V1CertificateSigningRequest csr)
    {
        _factsByUid.TryRemove(Key(csr), out _);
        lock (_gate)
        {
            if (csr.Spec.Username is { } requester) ForgetFirstJoinLocked(requester, csr.Metadata.Name);
            return RemoveLocked(csr.Metadata.Name);
        }
    }

    private bool RemoveLocked(string csrName)
    {
        if (!_pending.Remove(csrName, out var entry)) return false;
        if (entry.Node is not null) Remove(_pendingByNode, entry.Node, csrName);
        Remove(_pendingByRequester, entry.Requester, csrName);
        return true;
    }

    private static void Add(Dictionary<string, HashSet<string>> index, string key, string csrName)
    {
        if (!index.TryGetValue(key, out var names)) index[key] = names = new HashSet<string>(StringComparer.Ordinal);
        names.Add(csrName);
    }

    private static void Remove(Dictionary<string, HashSet<string>> index, string key, string csrName)
    {
        if (index.TryGetValue(key, out var names) && names.Remove(csrName) && names.Count == 0) index.Remove(key);
    }

    /// <summary>The profile machine a node name belongs to (its name or FQDN), or null.</summary>
    public string? MachineOfNode(string nodeName) => Machines().Find(nodeName)?.Name;

    /// <summary>
    /// The pending CSRs that concern <paramref name="machineName"/>: those naming its node and those it sent (as its
    /// node or with one of its bootstrap tokens). Decided again when the evidence about the machine changes.
    /// </summary>
    public IReadOnlyCollection<string> PendingOfMachine(string machineName)
    {
        var index = Machines();
        if (index.Profiles?.FindMachine(machineName) is not { } machine) return [];
        var requesters = RequestersOf(machine, index.Profiles.Cluster);
        lock (_gate)
        {
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var node in NodeNames(machine, index.Profiles.Cluster))
                if (_pendingByNode.TryGetValue(node, out var byNode)) names.UnionWith(byNode);
            foreach (var requester in requesters)
                if (_pendingByRequester.TryGetValue(requester, out var byRequester)) names.UnionWith(byRequester);
            return names;
        }
    }

    /// <summary>The pending CSRs that name <paramref name="nodeName"/>.</summary>
    public IReadOnlyCollection<string> PendingOfNode(string nodeName)
    {
        lock (_gate) return _pendingByNode.TryGetValue(nodeName, out var names) ? [.. names] : [];
    }

    /// <summary>The pending CSRs sent with a bootstrap token: decided again when the tokens change.</summary>
    public IReadOnlyCollection<string> PendingFromBootstrapTokens()
    {
        lock (_gate) return [.. _pending.Values.Where(p => p.Requester.StartsWith(BootstrapPrefix, StringComparison.Ordinal)).Select(p => p.Name)];
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

    private static IEnumerable<string> NodeNames(MachineSpec machine, ClusterSpec cluster) =>
        new[] { machine.Name, machine.Fqdn(cluster) }.Distinct(StringComparer.OrdinalIgnoreCase);

    /// <summary>Who may speak for the machine: its node (by name or FQDN) and each bootstrap token issued to it.</summary>
    private List<string> RequestersOf(MachineSpec machine, ClusterSpec cluster) =>
        [.. NodeNames(machine, cluster).Select(n => NodePrefix + n), .. _tokens.ForMachine(machine.Name).Select(t => t.UserName)];

    /// <summary>
    /// Pending CSRs the machine sent itself, counted against its cap: a CSR that merely names the machine is
    /// counted against whoever sent it, so nobody can use up another machine's cap. Of the first-join CSRs it sent
    /// for its own node, only the newest counts: the older ones are superseded, left behind by a kubelet restart.
    /// </summary>
    private int PendingFor(MachineSpec machine, ClusterSpec cluster)
    {
        var requesters = RequestersOf(machine, cluster);
        var nodes = NodeNames(machine, cluster).ToHashSet(StringComparer.OrdinalIgnoreCase);
        lock (_gate)
        {
            var (count, ownFirstJoins) = (0, 0);
            foreach (var requester in requesters)
            {
                if (!_pendingByRequester.TryGetValue(requester, out var names)) continue;
                foreach (var name in names)
                {
                    if (_pending[name] is { FirstJoin: true, Node: { } node } && nodes.Contains(node)) ownFirstJoins++;
                    else count++;
                }
            }
            return count + Math.Min(1, ownFirstJoins);
        }
    }

    /// <summary>
    /// A first-join CSR, pending or approved, that the machine sent for its own node with one of its tokens after
    /// <paramref name="csrName"/>, or null.
    /// </summary>
    private string? NewerFirstJoin(MachineSpec machine, ClusterSpec cluster, string csrName)
    {
        var tokenUsers = _tokens.ForMachine(machine.Name).Select(t => t.UserName).ToList();
        var nodes = NodeNames(machine, cluster).ToHashSet(StringComparer.OrdinalIgnoreCase);
        lock (_gate)
        {
            var own = tokenUsers.SelectMany(u => _firstJoinsByRequester.TryGetValue(u, out var byName) ? byName.Values : Enumerable.Empty<TrackedCsr>())
                .Where(c => c.Node is not null && nodes.Contains(c.Node)).ToList();
            if (own.FirstOrDefault(c => c.Name == csrName) is not { } csr) return null;
            return own.FirstOrDefault(c => c.IsNewerThan(csr))?.Name;
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
                ? MachineFacts.FromProfile(machine, _machines.Profiles!.Cluster,
                    inventory._machineState.Get(machine.Name)?.LastDeliveryThisRound(DeliveryKinds.Ignition)?.At)
                : null;

        public string? MachineForBootstrapToken(string tokenId) =>
            inventory._tokens.FindById(tokenId) is { } token && !token.IsExpiredAt(inventory._time.GetUtcNow()) ? token.MachineName : null;

        public NodeFacts? FindNode(string name) => findNode(name);

        public int PendingForMachine(string machineName) =>
            _machines.Find(machineName) is { } machine ? inventory.PendingFor(machine, _machines.Profiles!.Cluster) : 0;

        public string? NewerFirstJoinCsr(string machineName, string csrName) =>
            _machines.Find(machineName) is { } machine ? inventory.NewerFirstJoin(machine, _machines.Profiles!.Cluster, csrName) : null;

        public int TotalPending => inventory.TotalPending;

        public int MachineCount => _machines.Profiles?.Machines.Length ?? 0;
    }
}
