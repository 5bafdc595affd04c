using System.Collections.Immutable;
using System.Net;
using System.Threading.Channels;
using k8s;
using k8s.Autorest;
using Microsoft.Extensions.Logging;
using Provisioner.Inventory;
using Provisioner.Tokens;

namespace Provisioner.Approval;

/// <summary>
/// Once a machine's Node has registered, a kubelet of that machine holds a working client certificate and the
/// machine's bootstrap tokens have done their job: they are revoked (one write of the store for all of them) and
/// their Secrets deleted, and the machine is recorded as provisioned. Not at approval: the kubelet that asked may
/// have restarted with a new key and still need its token for a new request. Runs beside the CSR decisions and
/// yields to them: during a join storm, the machines waiting for their certificate come first.
/// </summary>
internal sealed class RegisteredNodeTokenRevoker(
    IKubernetes client, ClusterInventory inventory, BootstrapTokenStore tokens, MachineStateStore machineState, ILogger logger)
{
    private readonly Channel<string> _registered = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true });

    /// <summary>Queues the revocation for the machine of <paramref name="node"/>.</summary>
    public void NodeRegistered(string node) => _registered.Writer.TryWrite(node);

    /// <param name="whenDecisionsIdle">Waits (a bounded time) until no CSR is queued or being decided.</param>
    public async Task RunAsync(Func<CancellationToken, Task> whenDecisionsIdle, CancellationToken ct)
    {
        var reader = _registered.Reader;
        try
        {
            while (await reader.WaitToReadAsync(ct))
            {
                // One store write revokes the tokens of every machine whose Node registered since the last pass.
                await whenDecisionsIdle(ct);
                var nodes = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
                while (reader.TryRead(out var node)) nodes.Add(node);
                try { await RevokeAsync(nodes, ct); }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    logger.LogWarning(e, "Revoking the bootstrap tokens of {Count} registered nodes failed; the next Node list retries", nodes.Count);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested) { }
    }

    private async Task RevokeAsync(IReadOnlyCollection<string> nodes, CancellationToken ct)
    {
        var machines = nodes.Select(n => (Node: n, Machine: inventory.MachineOfNode(n))).Where(m => m.Machine is not null)
            .DistinctBy(m => m.Machine, StringComparer.Ordinal).ToDictionary(m => m.Machine!, m => m.Node, StringComparer.Ordinal);
        if (machines.Count == 0) return;
        var used = machines.Keys.SelectMany(m => tokens.ForMachine(m)).Select(t => t.Id).ToList();
        // Revoked first: should deleting a Secret fail, the token Secret sync removes it as an orphan.
        ImmutableArray<BootstrapToken> revoked = used.Count == 0 ? [] : await tokens.RevokeAsync(used, ct);
        await machineState.MarkJoinedAsync([.. machines.Keys.Where(m => machineState.Get(m)?.JoinedAt is null)], ct);
        foreach (var token in revoked)
        {
            try { await client.CoreV1.DeleteNamespacedSecretAsync(token.SecretName, "kube-system", cancellationToken: ct); }
            catch (HttpOperationException e) when (e.Response.StatusCode == HttpStatusCode.NotFound) { }
            logger.LogInformation("Bootstrap token {TokenId} of machine {Machine} revoked and its Secret deleted: node {Node} registered",
                token.Id, token.MachineName, machines[token.MachineName]);
        }
    }
}
