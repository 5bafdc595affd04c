using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using k8s.Models;
using Provisioner.Profiles;
using Provisioner.Tokens;

namespace Provisioner.Approval;

/// <summary>
/// Turns what the worker sees — profiles, Ignition fetches, issued tokens, Nodes and the CSRs in the
/// cluster — into the <see cref="InventorySnapshot"/> the policy decides against.
/// </summary>
internal sealed class ClusterInventory
{
    // The node a CSR is for, by CSR uid: the request is immutable, so it is parsed once.
    private readonly ConcurrentDictionary<string, string?> _nodeByUid = new(StringComparer.Ordinal);

    public InventorySnapshot Build(
        ProfileSet profiles,
        Func<string, DateTimeOffset?> lastIgnitionFetch,
        IEnumerable<BootstrapToken> tokens,
        DateTimeOffset now,
        IEnumerable<V1Node> nodes,
        IEnumerable<V1CertificateSigningRequest> pending)
    {
        var machines = profiles.Machines.Select(m => MachineFacts.FromProfile(m, profiles.Cluster, lastIgnitionFetch(m.Name))).ToImmutableArray();
        var tokenMachines = tokens.Where(t => !t.IsExpiredAt(now))
            .ToImmutableDictionary(t => t.Id, t => t.MachineName, StringComparer.Ordinal);
        var nodeFacts = nodes.Select(ToNodeFacts).ToImmutableArray();

        // Attribution by hash lookup: a join storm has as many pending CSRs as machines, so a linear search
        // per CSR would make every pass quadratic.
        var byNodeName = new Dictionary<string, MachineFacts>(StringComparer.OrdinalIgnoreCase);
        foreach (var machine in machines)
            foreach (var name in machine.DnsNames.Prepend(machine.Name))
                byNodeName.TryAdd(name, machine);
        var byMachine = new Dictionary<string, int>(StringComparer.Ordinal);
        var total = 0;
        foreach (var csr in pending)
        {
            total++;
            if (NodeName(csr) is { } node && byNodeName.GetValueOrDefault(node) is { } machine)
                byMachine[machine.Name] = byMachine.GetValueOrDefault(machine.Name) + 1;
        }
        return new InventorySnapshot(machines, tokenMachines, nodeFacts, byMachine.ToImmutableDictionary(StringComparer.Ordinal), total);
    }

    /// <summary>Forgets CSRs that no longer exist.</summary>
    public void Retain(IReadOnlySet<string> uids)
    {
        foreach (var uid in _nodeByUid.Keys)
            if (!uids.Contains(uid)) _nodeByUid.TryRemove(uid, out _);
    }

    /// <summary>The node a kubelet CSR asks for: the subject CN of a client CSR, the requester of a serving CSR.</summary>
    private string? NodeName(V1CertificateSigningRequest csr) =>
        _nodeByUid.GetOrAdd(csr.Metadata.Uid ?? csr.Metadata.Name, _ => csr.Spec.SignerName switch
        {
            CsrSigners.KubeletServing when csr.Spec.Username?.StartsWith(NodePrefix, StringComparison.Ordinal) == true => csr.Spec.Username[NodePrefix.Length..],
            CsrSigners.KubeletClient => ParsedCsr.TryParse(csr.Spec.Request ?? [], out _, verifySignature: false)?.Subject
                .Select(a => a.Value).FirstOrDefault(v => v?.StartsWith(NodePrefix, StringComparison.Ordinal) == true)?[NodePrefix.Length..],
            _ => null,
        });

    private const string NodePrefix = "system:node:";

    private static NodeFacts ToNodeFacts(V1Node node) => new(
        node.Metadata.Name,
        [.. (node.Status?.Addresses ?? []).Select(a => IPAddress.TryParse(a.Address, out var ip) ? ip : null).OfType<IPAddress>()]);

    public static CsrFacts Facts(V1CertificateSigningRequest csr) => new(
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
}
