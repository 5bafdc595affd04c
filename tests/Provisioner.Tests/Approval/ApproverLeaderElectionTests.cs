using k8s;
using Provisioner.Approval;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Approval;

/// <summary>Two Provisioner replicas against one API: one Lease, one approver; the other takes over when it stops.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class ApproverLeaderElectionTests
{
    private static async Task<string> StateAsync(ApproverHarness h, RunningServer server) =>
        (await h.ApproverAsync(server)).GetProperty("state").GetString()!;

    [Fact]
    public async Task Only_the_leader_approves_and_the_standby_takes_over_when_it_stops()
    {
        await using var h = await ApproverHarness.CreateAsync();
        await h.SeedNodeAsync("worker-0");
        await h.SeedNodeAsync("cp-0");
        await h.StartServerAsync(ApproverHarness.FastOptions("provisioner-a"));
        await Eventually.That(async () => await StateAsync(h, h.Server) == ApproverStates.Leader, "a to lead");
        await using var b = await h.StartReplicaAsync(ApproverHarness.FastOptions("provisioner-b"));
        await Eventually.That(async () => await StateAsync(h, b) == ApproverStates.Standby
                                                     && (await h.ApproverAsync(b)).TryGetProperty("leader", out var leader) && leader.GetString() == "provisioner-a",
            "b to stand by behind a");

        var first = await h.CreateRenewalsAsync("worker-0", 1);
        await h.AssertEachApprovedOnceAsync(first);
        Assert.Contains(await h.RecentDecisionsAsync(h.Server), d => d.GetProperty("csr").GetString() == first[0]);
        Assert.Empty(await h.RecentDecisionsAsync(b));
        Assert.Equal(ApproverStates.Standby, await StateAsync(h, b));

        await h.Server.DisposeAsync();
        await Eventually.That(async () => await StateAsync(h, b) == ApproverStates.Leader, "b to take over", TimeSpan.FromSeconds(20));

        var second = await h.CreateRenewalsAsync("cp-0", 1);
        await h.AssertEachApprovedOnceAsync([.. first, .. second]);
        Assert.Contains(await h.RecentDecisionsAsync(b), d => d.GetProperty("csr").GetString() == second[0]);
        var lease = await h.Admin.CoordinationV1.ReadNamespacedLeaseAsync("provisioner-approver", "kube-system", cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal("provisioner-b", lease.Spec.HolderIdentity);
    }
}
