using Provisioner.FakeKubernetes;

namespace Provisioner.Tests.FakeKubernetes;

/// <summary>The fake API's scripted faults: each is used up by the one request it hits.</summary>
public sealed class FaultInjectorTests
{
    private readonly FaultInjector _faults = new();

    [Fact]
    public void Forced_gone_for_one_kind_hits_only_that_kinds_next_watch_once()
    {
        _faults.ForceGoneOnNextWatch(Kinds.Csr.Plural);

        Assert.False(_faults.TakeForcedGone(Kinds.Node.Plural));
        Assert.True(_faults.TakeForcedGone(Kinds.Csr.Plural));
        Assert.False(_faults.TakeForcedGone(Kinds.Csr.Plural));
    }

    [Fact]
    public void Forced_gone_for_any_kind_hits_the_next_watch_of_whatever_kind()
    {
        _faults.ForceGoneOnNextWatch(null);

        Assert.True(_faults.TakeForcedGone(Kinds.Node.Plural));
        Assert.False(_faults.TakeForcedGone(Kinds.Csr.Plural));
    }

    [Fact]
    public void Interventions_add_up_and_each_meets_one_update()
    {
        _faults.InterveneBeforeNextUpdate(Kinds.Csr.Plural);
        _faults.InterveneBeforeNextUpdate(Kinds.Csr.Plural);
        Assert.Equal(2, _faults.PendingInterventions(Kinds.Csr.Plural));

        Assert.False(_faults.TakeIntervention(Kinds.Lease.Plural));
        Assert.True(_faults.TakeIntervention(Kinds.Csr.Plural));
        Assert.True(_faults.TakeIntervention(Kinds.Csr.Plural));
        Assert.False(_faults.TakeIntervention(Kinds.Csr.Plural));
        Assert.Equal(0, _faults.PendingInterventions(Kinds.Csr.Plural));
    }
}
