using Microsoft.Extensions.Time.Testing;
using Provisioner.Inventory;
using Provisioner.Profiles;

namespace Provisioner.Tests.Inventory;

public sealed class MachineRegistryTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero));

    private static MachineQuery Mac(int i) => new(MacAddress.Parse($"52:54:00:ff:{i / 256:x2}:{i % 256:x2}"), null, null, null);

    private static IReadOnlyList<MachineObservation> Discovered(MachineRegistry registry) => [.. registry.All.Where(m => !m.Known)];

    [Fact]
    public void A_full_discovered_table_drops_the_machine_seen_least_recently_and_counts_it()
    {
        var registry = new MachineRegistry(_time);
        for (var i = 0; i < MachineRegistry.MaxDiscovered; i++) registry.RecordDiscovered(Mac(i), BootStage.Ipxe, null);
        registry.RecordDiscovered(Mac(0), BootStage.Ipxe, null); // the oldest asks again: now the most recent

        registry.RecordDiscovered(Mac(MachineRegistry.MaxDiscovered), BootStage.Ipxe, null);

        var keys = Discovered(registry).Select(m => m.LastQuery.Mac).ToHashSet();
        Assert.Equal(MachineRegistry.MaxDiscovered, keys.Count);
        Assert.Contains(Mac(0).Mac, keys);
        Assert.Contains(Mac(MachineRegistry.MaxDiscovered).Mac, keys);
        Assert.DoesNotContain(Mac(1).Mac, keys);
        Assert.Equal(1, registry.DiscoveredEvicted);
    }

    [Fact]
    public void A_machines_history_keeps_the_newest_events_in_order()
    {
        var registry = new MachineRegistry(_time);
        var machine = new MachineSpec("worker-0", "worker", new MachineSelectors([Mac(1).Mac!.Value], null, null, null),
            NetworkSpec.UseDhcp, null, System.Collections.Immutable.ImmutableDictionary<string, string>.Empty, new SourceLocation("machines.yaml", 1, 1));
        for (var i = 0; i < MachineRegistry.MaxHistory + 5; i++)
        {
            registry.RecordKnown(machine, Mac(1), BootStage.Ipxe, null, $"boot {i}");
            _time.Advance(TimeSpan.FromSeconds(1));
        }

        var history = registry.Get("worker-0")!.History;
        Assert.Equal(MachineRegistry.MaxHistory, history.Length);
        Assert.Equal("boot 5", history[0].Detail);
        Assert.Equal($"boot {MachineRegistry.MaxHistory + 4}", history[^1].Detail);
        Assert.True(history.Zip(history.Skip(1)).All(p => p.First.At < p.Second.At));
    }

    [Fact]
    public void Unknown_machines_sending_the_same_placeholder_uuid_are_told_apart_by_mac()
    {
        var registry = new MachineRegistry(_time);
        registry.RecordDiscovered(Mac(1) with { Uuid = Guid.NewGuid() }, BootStage.Ipxe, null);
        registry.RecordDiscovered(Mac(2) with { Uuid = Guid.NewGuid() }, BootStage.Ipxe, null);

        Assert.Equal(2, Discovered(registry).Count);
    }

    [Fact]
    public void Adopted_machine_leaves_the_discovered_list()
    {
        var registry = new MachineRegistry(_time);
        registry.RecordDiscovered(Mac(7), BootStage.Ipxe, null);
        var machine = new MachineSpec("worker-7", "worker", new MachineSelectors([Mac(7).Mac!.Value], null, null, null),
            NetworkSpec.UseDhcp, null, System.Collections.Immutable.ImmutableDictionary<string, string>.Empty, new SourceLocation("machines.yaml", 1, 1));

        registry.RecordKnown(machine, Mac(7), BootStage.Ipxe, null);

        Assert.Empty(Discovered(registry));
        Assert.NotNull(registry.Get("worker-7"));
    }

    [Theory]
    [InlineData("00000000-0000-0000-0000-000000000000")]
    [InlineData("ffffffff-ffff-ffff-ffff-ffffffffffff")]
    public void Nil_and_all_ones_uuids_are_placeholders(string uuid) => Assert.True(SmbiosUuid.IsPlaceholder(Guid.Parse(uuid)));

    [Fact]
    public void A_real_uuid_is_not_a_placeholder() => Assert.False(SmbiosUuid.IsPlaceholder(Guid.Parse("4c4c4544-0042-3510-8052-b4c04f564433")));
}
