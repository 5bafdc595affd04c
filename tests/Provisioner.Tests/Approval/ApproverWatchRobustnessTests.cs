using Provisioner.Approval;
using Provisioner.FakeKubernetes;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Approval;

/// <summary>
/// The watches (CSRs and Nodes) fail the ways real ones do — connection reset, server closing it, 410 Gone
/// on reconnect, a 409 because someone else wrote the CSR first — and still every CSR is approved exactly
/// once (the fake counts the writes to each CSR's approval subresource), and a Node is never forgotten.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class ApproverWatchRobustnessTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly string Csrs = Kinds.Csr.Plural;
    private static readonly string Nodes = Kinds.Node.Plural;

    /// <summary>Renewals of one node only; the per-machine cap would otherwise (rightly) hold them.</summary>
    private static ApproverOptions Uncapped()
    {
        var options = ApproverHarness.FastOptions();
        return options with { Policy = options.Policy with { MaxPendingPerMachine = 10_000, PendingTotalHeadroom = 10_000 } };
    }

    private static async Task<ApproverHarness> WatchingAsync()
    {
        var h = await ApproverHarness.CreateAsync();
        await h.SeedNodeAsync("worker-0");
        await h.StartServerAsync(Uncapped());
        await Eventually.That(() => h.Fake.OpenWatchesOf(Csrs) > 0 && h.Fake.OpenWatchesOf(Nodes) > 0, "the approver's CSR and Node watches");
        return h;
    }

    [Fact]
    public async Task Watch_reset_mid_stream_loses_nothing_and_approves_nothing_twice()
    {
        await using var h = await WatchingAsync();
        var names = new List<string>(await h.CreateRenewalsAsync("worker-0", 10));

        Assert.Equal(1, h.Fake.DropWatches(abort: true, plural: Csrs));
        names.AddRange(await h.CreateRenewalsAsync("worker-0", 10));
        await Eventually.That(() => h.Fake.OpenWatchesOf(Csrs) > 0, "the approver to watch again");
        names.AddRange(await h.CreateRenewalsAsync("worker-0", 10));

        await h.AssertEachApprovedOnceAsync(names);
    }

    [Fact]
    public async Task Watch_closed_by_the_server_is_resumed_from_the_last_resourceVersion()
    {
        await using var h = await WatchingAsync();
        var names = new List<string>(await h.CreateRenewalsAsync("worker-0", 5));
        await Eventually.That(() => names.All(n => ApproverHarness.ConditionType(h.Csr(n)) == "Approved"), "the first CSRs approved");
        var listsBefore = h.Fake.Requests.Count(IsCsrList);

        Assert.Equal(1, h.Fake.DropWatches(plural: Csrs));
        names.AddRange(await h.CreateRenewalsAsync("worker-0", 5));

        await h.AssertEachApprovedOnceAsync(names);
        // Resumed, not re-listed: the resourceVersion it had was still good.
        Assert.Equal(listsBefore, h.Fake.Requests.Count(IsCsrList));
    }

    [Fact]
    public async Task Gone_on_reconnect_relists_and_approves_what_happened_meanwhile()
    {
        await using var h = await WatchingAsync();
        var listsBefore = h.Fake.Requests.Count(IsCsrList);

        h.Fake.ForceGoneOnNextWatch(Csrs);
        Assert.Equal(1, h.Fake.DropWatches(plural: Csrs));
        var names = await h.CreateRenewalsAsync("worker-0", 10);

        await h.AssertEachApprovedOnceAsync(names);
        Assert.Equal(1, h.Fake.GoneAnswers);
        Assert.True(h.Fake.Requests.Count(IsCsrList) > listsBefore, "a 410 must be followed by a fresh list");
    }

    [Fact]
    public async Task Node_registered_while_the_node_watch_was_gone_is_seen_and_its_machines_token_revoked()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync();
        await h.FetchIgnitionAsync("worker-0");
        await h.WaitForTokenSecretAsync("worker-0");
        await Eventually.That(() => h.Fake.OpenWatchesOf(Nodes) > 0, "the approver's Node watch");

        h.Fake.ForceGoneOnNextWatch(Nodes);
        Assert.Equal(1, h.Fake.DropWatches(plural: Nodes));
        await h.RegisterNodeAsync("worker-0");

        await Eventually.That(() => h.Fake.Get("secrets", "kube-system", h.Tokens["worker-0"].SecretName) is null,
            "the token's Secret deleted once the re-list shows the Node");
        Assert.Equal(1, h.Fake.GoneAnswers);
    }

    [Fact]
    public async Task Conflict_on_approval_is_decided_again_on_a_fresh_read_and_approved_once()
    {
        await using var h = await WatchingAsync();
        h.Fake.InterveneBeforeNextUpdate("certificatesigningrequests");

        var names = await h.CreateRenewalsAsync("worker-0", 1);

        await h.AssertEachApprovedOnceAsync(names);
        Assert.Contains(h.Fake.Requests, r => r.Method == "PUT" && r.PathAndQuery.Contains($"/{names[0]}/approval") && r.Status == 409);
        Assert.Equal(CsrReasons.ApprovedRenewal, (await h.DecisionAsync(names[0])).GetProperty("reason").GetString());
    }

    [Fact]
    public async Task Many_faults_during_a_join_storm_still_approve_each_csr_exactly_once()
    {
        await using var h = await WatchingAsync();
        var storm = Task.Run(async () =>
        {
            var created = new List<string>();
            for (var i = 0; i < 10; i++) created.AddRange(await h.CreateRenewalsAsync("worker-0", 10));
            return created;
        }, Ct);
        // Each fault is injected once the approver has met the one before (its watches open again, the intervention
        // used up), so the faults keep pace with the approver on a fast or a loaded machine alike.
        for (var i = 0; !storm.IsCompleted; i++)
        {
            var (csrWatches, nodeWatches) = (h.Fake.StartedWatchesOf(Csrs), h.Fake.StartedWatchesOf(Nodes));
            bool BothWatchingAgain() => h.Fake.StartedWatchesOf(Csrs) > csrWatches && h.Fake.StartedWatchesOf(Nodes) > nodeWatches;
            switch (i % 3)
            {
                case 0:
                    h.Fake.DropWatches(abort: true);
                    await Eventually.That(BothWatchingAgain, "the approver to watch CSRs and Nodes again after a reset");
                    break;
                case 1:
                    h.Fake.ForceGoneOnNextWatch();
                    h.Fake.DropWatches();
                    await Eventually.That(BothWatchingAgain, "the approver to re-list after a 410 and watch CSRs and Nodes again");
                    break;
                case 2:
                    h.Fake.InterveneBeforeNextUpdate(Csrs);
                    await Eventually.That(() => h.Fake.PendingInterventions(Csrs) == 0 || storm.IsCompleted, "an approval to meet the intervention");
                    break;
            }
        }

        await h.AssertEachApprovedOnceAsync(await storm);
    }

    private static bool IsCsrList(Provisioner.FakeKubernetes.RecordedRequest r) =>
        r.Method == "GET" && r.PathAndQuery.StartsWith("/apis/certificates.k8s.io/v1/certificatesigningrequests?", StringComparison.Ordinal)
        && !r.PathAndQuery.Contains("watch=true", StringComparison.Ordinal) && !r.PathAndQuery.Contains("limit=1", StringComparison.Ordinal);
}
