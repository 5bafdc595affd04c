using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using k8s;
using k8s.LeaderElection;
using k8s.LeaderElection.ResourceLock;
using Provisioner.Approval;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Approval;

/// <summary>
/// The API server goes away — its port closed, connections refused and reset, as when it is killed or during
/// the bootstrap → control-plane handover — and comes back on the same address: the approver says it is
/// waiting for the API (never that it is disabled), and approves again once the API answers.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class ApproverOutageTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<string> StateAsync(ApproverHarness h) => (await h.ApproverAsync()).GetProperty("state").GetString()!;

    private static async Task WaitForStateAsync(ApproverHarness h, string state, TimeSpan? timeout = null) =>
        await Eventually.That(async () => await StateAsync(h) == state, $"approver state {state}", timeout);

    /// <summary>The API server is gone: the approver reports it, naming the API's address.</summary>
    private static async Task WaitForApiGoneAsync(ApproverHarness h) =>
        await Eventually.That(async () =>
        {
            var approver = await h.ApproverAsync();
            return approver.GetProperty("state").GetString() == ApproverStates.WaitingForApi
                   && approver.GetProperty("detail").GetString()!.Contains(Authority(h), StringComparison.Ordinal);
        }, "the approver to report waiting-for-api naming the API server");

    private static string Authority(ApproverHarness h) => h.Fake.BaseAddress.GetLeftPart(UriPartial.Authority);

    private static async Task<ApproverHarness> LeadingAsync(ApproverOptions? options = null)
    {
        var h = await ApproverHarness.CreateAsync();
        await h.SeedNodeAsync("worker-0");
        await h.StartServerAsync(options);
        await WaitForStateAsync(h, ApproverStates.Leader);
        return h;
    }

    [Fact]
    public async Task Api_gone_during_the_leaders_term_is_waited_for_and_csrs_made_after_it_returns_are_approved()
    {
        await using var h = await LeadingAsync();
        await using var states = StateLog.Start(h);

        await h.Fake.GoDownAsync();
        await WaitForApiGoneAsync(h);
        Assert.Contains("refused", (await h.ApproverAsync()).GetProperty("detail").GetString(), StringComparison.OrdinalIgnoreCase);

        await h.Fake.ComeBackAsync(Ct);
        await WaitForStateAsync(h, ApproverStates.Leader);
        await h.AssertEachApprovedOnceAsync(await h.CreateRenewalsAsync("worker-0", 1));
        Assert.DoesNotContain(ApproverStates.Disabled, states.Seen);
    }

    [Fact]
    public async Task Api_gone_while_standing_by_is_waited_for_and_the_lease_of_a_holder_that_died_with_it_is_taken_over()
    {
        await using var h = await ApproverHarness.CreateAsync();
        await h.SeedNodeAsync("worker-0");
        // Another replica holds the lease, as the bootstrap host's Provisioner does before the handover.
        using var otherStops = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        using var other = new LeaderElector(new LeaderElectionConfig(new LeaseLock(h.Admin, "kube-system", "provisioner-approver", "other-replica"))
        {
            LeaseDuration = TimeSpan.FromSeconds(2), RenewDeadline = TimeSpan.FromSeconds(1.5), RetryPeriod = TimeSpan.FromMilliseconds(200),
        });
        var otherLeads = new TaskCompletionSource();
        other.OnStartedLeading += () => otherLeads.TrySetResult();
        var otherRuns = other.RunUntilLeadershipLostAsync(otherStops.Token);
        await otherLeads.Task.WaitAsync(TimeSpan.FromSeconds(10), Ct);
        await h.StartServerAsync();
        await Eventually.That(async () => (await h.ApproverAsync()) is var a && a.GetProperty("state").GetString() == ApproverStates.Standby
                                                     && a.TryGetProperty("leader", out var leader) && leader.GetString() == "other-replica", "the approver to stand by behind other-replica");
        await using var states = StateLog.Start(h);

        // The API server and the other replica go away together.
        await h.Fake.GoDownAsync();
        await otherStops.CancelAsync();
        await WaitForApiGoneAsync(h);

        await h.Fake.ComeBackAsync(Ct);
        await WaitForStateAsync(h, ApproverStates.Leader);
        await h.AssertEachApprovedOnceAsync(await h.CreateRenewalsAsync("worker-0", 1));
        Assert.DoesNotContain(ApproverStates.Disabled, states.Seen);
        await otherRuns.ContinueWith(_ => { }, TaskScheduler.Default);
    }

    [Fact]
    public async Task Api_refusing_connections_again_and_again_is_waited_for_every_time()
    {
        await using var h = await LeadingAsync();
        await using var states = StateLog.Start(h);

        // Gone while leading; back and at once gone again, before the approver could notice; gone once more
        // after it led again.
        await h.Fake.GoDownAsync();
        await WaitForApiGoneAsync(h);
        await h.Fake.ComeBackAsync(Ct);
        await h.Fake.GoDownAsync();
        await WaitForApiGoneAsync(h);
        await h.Fake.ComeBackAsync(Ct);
        await WaitForStateAsync(h, ApproverStates.Leader);
        await h.Fake.GoDownAsync();
        await WaitForApiGoneAsync(h);
        await h.Fake.ComeBackAsync(Ct);

        await WaitForStateAsync(h, ApproverStates.Leader);
        await h.AssertEachApprovedOnceAsync(await h.CreateRenewalsAsync("worker-0", 1));
        Assert.DoesNotContain(ApproverStates.Disabled, states.Seen);
    }

    [Fact]
    public async Task Readyz_says_the_approver_waits_for_the_api_and_names_it_with_the_error_and_the_next_retry()
    {
        await using var h = await LeadingAsync();

        await h.Fake.GoDownAsync();
        await WaitForApiGoneAsync(h);

        using var readyz = JsonDocument.Parse(await h.Server.Client.GetStringAsync("/readyz", Ct));
        var approver = readyz.RootElement.GetProperty("approver");
        Assert.Equal(ApproverStates.WaitingForApi, approver.GetProperty("state").GetString());
        var detail = approver.GetProperty("detail").GetString()!;
        Assert.Contains(Authority(h), detail);
        Assert.Contains("refused", detail, StringComparison.OrdinalIgnoreCase);
        Assert.Matches(@"attempt \d+, next in [\d.]+ s", detail);
    }

    /// <summary>
    /// The production backoff (0.5 s doubling, 30 s cap for an API that answers with errors), after enough
    /// refused attempts that an uncapped wait would be 16 s: the API is reached within the 2 s cap for an
    /// unreachable API (with a margin for a loaded machine).
    /// </summary>
    private static readonly ApproverOptions ProductionBackoff = ApproverHarness.FastOptions() with
    {
        BackoffInitial = new ApproverOptions().BackoffInitial,
        BackoffMax = new ApproverOptions().BackoffMax,
        UnreachableBackoffMax = new ApproverOptions().UnreachableBackoffMax,
    };

    private static readonly TimeSpan NoticedWithin = ProductionBackoff.UnreachableBackoffMax + TimeSpan.FromSeconds(4);

    private static async Task AssertApiNoticedWithinTheCapAsync(ApproverHarness h)
    {
        // Attempt 6: 0.5 + 1 + 2 + 2 + 2 s of waits behind it; uncapped, the next would be 16 s away.
        // Before its first term the approver reports no detail yet: that is "not yet", not a failure.
        await Eventually.That(async () => (await h.ApproverAsync()).TryGetProperty("detail", out var detail)
                && detail.GetString() is { } text && text.Contains("attempt 6,", StringComparison.Ordinal),
            "six refused attempts", TimeSpan.FromSeconds(30));

        var back = Stopwatch.StartNew();
        await h.Fake.ComeBackAsync(Ct);
        await Eventually.That(async () => await StateAsync(h) != ApproverStates.WaitingForApi, "the approver to reach the API", TimeSpan.FromSeconds(30));
        Assert.True(back.Elapsed < NoticedWithin, $"the API was noticed {back.Elapsed.TotalSeconds:0.0} s after it came back (cap {ProductionBackoff.UnreachableBackoffMax.TotalSeconds} s)");
    }

    [Fact]
    public async Task Api_refusing_connections_before_first_contact_is_noticed_within_the_unreachable_backoff_cap_of_its_coming_up()
    {
        await using var h = await ApproverHarness.CreateAsync();
        await h.Fake.GoDownAsync();
        await h.StartServerAsync(ProductionBackoff);

        await AssertApiNoticedWithinTheCapAsync(h);
        await WaitForStateAsync(h, ApproverStates.Leader);
    }

    [Fact]
    public async Task Api_lost_by_the_leader_is_noticed_within_the_unreachable_backoff_cap_of_its_return()
    {
        await using var h = await LeadingAsync(ProductionBackoff);
        await h.Fake.GoDownAsync();

        await AssertApiNoticedWithinTheCapAsync(h);
        await WaitForStateAsync(h, ApproverStates.Leader);
    }

    [Fact]
    public async Task Restarted_serve_retakes_its_own_lease_at_once_instead_of_waiting_for_it_to_expire()
    {
        // A lease long enough that waiting for it to expire cannot pass for "at once".
        var options = ApproverHarness.FastOptions(identity: null) with { LeaseDuration = TimeSpan.FromSeconds(30), RenewDeadline = TimeSpan.FromSeconds(10) };
        await using var h = await LeadingAsync(options);
        var identity = (await h.ApproverAsync()).GetProperty("identity").GetString();
        await h.Server.DisposeAsync();

        var restarted = Stopwatch.StartNew();
        await h.StartServerAsync(options);
        await WaitForStateAsync(h, ApproverStates.Leader, TimeSpan.FromSeconds(60));

        Assert.True(restarted.Elapsed < TimeSpan.FromSeconds(10), $"leadership came back after {restarted.Elapsed.TotalSeconds:0.0} s (lease {options.LeaseDuration.TotalSeconds} s)");
        Assert.Equal(identity, (await h.ApproverAsync()).GetProperty("identity").GetString());
        var lease = await h.Admin.CoordinationV1.ReadNamespacedLeaseAsync("provisioner-approver", "kube-system", cancellationToken: Ct);
        Assert.Equal(identity, lease.Spec.HolderIdentity);
    }

    /// <summary>Every state /api/v1/approver reported while it runs (sampled every 20 ms).</summary>
    private sealed class StateLog : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        private readonly ConcurrentQueue<string> _seen = new();
        private Task _sampling = Task.CompletedTask;

        public IReadOnlyCollection<string> Seen => [.. _seen.Distinct()];

        public static StateLog Start(ApproverHarness h)
        {
            var log = new StateLog();
            log._sampling = Task.Run(async () =>
            {
                while (!log._stop.IsCancellationRequested)
                {
                    log._seen.Enqueue(await StateAsync(h));
                    await Task.Delay(20, log._stop.Token);
                }
            });
            return log;
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            await _sampling.ContinueWith(_ => { }, TaskScheduler.Default);
            _stop.Dispose();
        }
    }
}
