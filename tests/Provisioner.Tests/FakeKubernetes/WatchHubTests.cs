using System.Text;
using System.Text.Json.Nodes;
using Provisioner.FakeKubernetes;

namespace Provisioner.Tests.FakeKubernetes;

/// <summary>The fake API's watch hub alone: where a watch starts, 410 Gone, delivery order, dropping.</summary>
public sealed class WatchHubTests
{
    private static readonly Identity Admin = new("kubernetes-admin", ["system:masters", "system:authenticated"]);
    private static readonly ResourcePath Csrs = new(Kinds.Csr, "", null, null);
    private static readonly LabelSelector Everything = LabelSelector.Parse(null);
    private readonly ObjectStore _store;
    private readonly WatchHub _hub;

    public WatchHubTests()
    {
        _store = new ObjectStore(historyLimit: 100, TimeProvider.System);
        _hub = new WatchHub(_store, new FakeKubernetesOptions());
    }

    private string CreateCsr(string name)
    {
        var answer = _store.Create(Kinds.Csr, "", new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = name },
            ["spec"] = new JsonObject
            {
                ["request"] = Convert.ToBase64String(Encoding.ASCII.GetBytes("-----BEGIN CERTIFICATE REQUEST-----\n")),
                ["signerName"] = "kubernetes.io/kube-apiserver-client-kubelet",
                ["usages"] = new JsonArray("client auth"),
            },
        }, Admin);
        return (string)JsonNode.Parse(answer.Json!)!["metadata"]!["resourceVersion"]!;
    }

    private static List<(string Type, string Name)> Pending(WatchSubscription subscription)
    {
        var events = new List<(string, string)>();
        while (subscription.Channel.Reader.TryRead(out var e)) events.Add((e.Type, (string)e.Object["metadata"]!["name"]!));
        return events;
    }

    [Fact]
    public void Watch_from_a_compacted_resourceVersion_is_410_Gone_naming_the_oldest_it_still_has()
    {
        var old = CreateCsr("a");
        CreateCsr("b");
        _store.CompactHistory();
        var oldest = _store.ResourceVersion + 1;

        var (subscription, gone) = _hub.Open(Csrs, old, Everything, forceGone: false, abortConnection: () => { });

        Assert.Null(subscription);
        Assert.Equal(410, (int)gone!["code"]!);
        Assert.Equal("Expired", (string?)gone["reason"]);
        Assert.Equal($"too old resource version: {old} ({oldest})", (string?)gone["message"]);
        Assert.Equal(1, _hub.GoneAnswers);
        Assert.Equal(0, _hub.OpenWatches);
    }

    [Fact]
    public void Watch_from_a_resourceVersion_older_than_the_history_limit_is_410_Gone()
    {
        var store = new ObjectStore(historyLimit: 2, TimeProvider.System);
        var hub = new WatchHub(store, new FakeKubernetesOptions());
        var first = CreateIn(store, "a");
        CreateIn(store, "b");
        CreateIn(store, "c");
        CreateIn(store, "d");

        Assert.NotNull(hub.Open(new ResourcePath(Kinds.Secret, "ns", null, null), first, Everything, forceGone: false, abortConnection: () => { }).Gone);

        static string CreateIn(ObjectStore store, string name) => (string)JsonNode.Parse(store.Create(Kinds.Secret, "ns",
            new JsonObject { ["metadata"] = new JsonObject { ["name"] = name } }, Admin).Json!)!["metadata"]!["resourceVersion"]!;
    }

    [Fact]
    public void Watch_from_a_kept_resourceVersion_replays_what_came_after_it_then_live_changes_in_order()
    {
        var from = CreateCsr("a");
        CreateCsr("b");

        var (subscription, gone) = _hub.Open(Csrs, from, Everything, forceGone: false, abortConnection: () => { });
        CreateCsr("c");

        Assert.Null(gone);
        Assert.Equal([("ADDED", "b"), ("ADDED", "c")], Pending(subscription!));
        Assert.Equal(1, _hub.OpenWatchesOf(Kinds.Csr.Plural));
        Assert.Equal(1, _hub.StartedWatchesOf(Kinds.Csr.Plural));
    }

    [Fact]
    public void Watch_without_a_resourceVersion_starts_with_the_current_objects_as_ADDED()
    {
        CreateCsr("b");
        CreateCsr("a");

        var (subscription, _) = _hub.Open(Csrs, null, Everything, forceGone: false, abortConnection: () => { });

        Assert.Equal([("ADDED", "a"), ("ADDED", "b")], Pending(subscription!));
    }

    [Fact]
    public void Forced_gone_answers_410_even_for_a_current_resourceVersion()
    {
        var current = CreateCsr("a");

        Assert.NotNull(_hub.Open(Csrs, current, Everything, forceGone: true, abortConnection: () => { }).Gone);
    }

    [Fact]
    public void Dropping_with_abort_resets_the_connection_and_ends_only_the_kind_asked_for()
    {
        var resets = 0;
        var (csrWatch, _) = _hub.Open(Csrs, null, Everything, forceGone: false, abortConnection: () => resets++);
        var (nodeWatch, _) = _hub.Open(new ResourcePath(Kinds.Node, "", null, null), null, Everything, forceGone: false, abortConnection: () => resets++);

        Assert.Equal(1, _hub.Drop(abort: true, plural: Kinds.Csr.Plural));

        Assert.Equal(1, resets);
        Assert.True(csrWatch!.Dropped.IsCancellationRequested);
        Assert.True(csrWatch.AbortRequested);
        Assert.False(nodeWatch!.Dropped.IsCancellationRequested);
    }

    [Fact]
    public void Closed_watch_gets_no_more_events()
    {
        var (subscription, _) = _hub.Open(Csrs, null, Everything, forceGone: false, abortConnection: () => { });
        _hub.Close(subscription!);

        CreateCsr("a");

        Assert.Empty(Pending(subscription!));
        Assert.Equal(0, _hub.OpenWatches);
    }
}
