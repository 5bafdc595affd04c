using Microsoft.Extensions.Time.Testing;
using Provisioner.Inventory;

namespace Provisioner.Tests.Inventory;

public sealed class MachineStateStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("machine-state-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero));
    private CancellationToken Ct => TestContext.Current.CancellationToken;
    private string StorePath => MachineStateStore.PathIn(_dir);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<MachineStateStore> OpenAsync() => MachineStateStore.OpenAsync(StorePath, _time, Ct);

    [Fact]
    public async Task Unknown_machine_has_no_state_and_a_new_state_is_ready()
    {
        var store = await OpenAsync();
        Assert.Null(store.Get("worker-0"));
        Assert.Equal(MachinePhases.Ready, MachineState.New("worker-0").Phase);
        Assert.False(File.Exists(StorePath));
    }

    [Fact]
    public async Task Delivery_is_on_disk_when_the_call_returns_and_read_back_by_a_new_store()
    {
        var store = await OpenAsync();
        await store.RecordDeliveryAsync("worker-0", DeliveryKinds.Ignition, "192.0.2.30", Ct);

        var reopened = await OpenAsync();
        var delivery = reopened.Get("worker-0")!.LastDelivery(DeliveryKinds.Ignition);
        Assert.Equal(new Delivery(DeliveryKinds.Ignition, _time.GetUtcNow(), "192.0.2.30"), delivery);
        Assert.Equal(MachinePhases.Provisioning, reopened.Get("worker-0")!.Phase);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(StorePath));
    }

    [Fact]
    public async Task Joined_machine_is_provisioned_and_keeps_its_first_join_time()
    {
        var store = await OpenAsync();
        await store.MarkJoinedAsync(["worker-0"], Ct);
        var first = _time.GetUtcNow();
        _time.Advance(TimeSpan.FromMinutes(5));
        await store.MarkJoinedAsync(["worker-0"], Ct);

        var reopened = await OpenAsync();
        Assert.Equal(first, reopened.Get("worker-0")!.JoinedAt);
        Assert.Equal(MachinePhases.Provisioned, reopened.Get("worker-0")!.Phase);
        Assert.Equal(["worker-0"], reopened.JoinedMachines());
    }

    [Fact]
    public async Task Deliveries_per_machine_are_bounded_keeping_the_newest()
    {
        var store = await OpenAsync();
        for (var i = 0; i < MachineStateStore.MaxDeliveries + 5; i++)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await store.RecordDeliveryAsync("worker-0", DeliveryKinds.Ignition, $"192.0.2.{i}", Ct);
        }

        var deliveries = (await OpenAsync()).Get("worker-0")!.Deliveries;
        Assert.Equal(MachineStateStore.MaxDeliveries, deliveries.Length);
        Assert.Equal($"192.0.2.{MachineStateStore.MaxDeliveries + 4}", deliveries[^1].Address);
    }

    [Fact]
    public async Task Concurrent_deliveries_are_all_kept()
    {
        var store = await OpenAsync();
        await Task.WhenAll(Enumerable.Range(0, 100).Select(i => store.RecordDeliveryAsync($"worker-{i}", DeliveryKinds.Ignition, null, Ct)));

        Assert.Equal(100, (await OpenAsync()).All.Length);
    }

    [Fact]
    public async Task Changes_of_another_store_on_the_same_file_are_not_lost()
    {
        var serve = await OpenAsync();
        var other = await OpenAsync();
        await serve.RecordDeliveryAsync("worker-0", DeliveryKinds.Ignition, null, Ct);
        await other.MarkJoinedAsync(["cp-0"], Ct);

        var reopened = await OpenAsync();
        Assert.NotNull(reopened.Get("worker-0")!.LastDelivery(DeliveryKinds.Ignition));
        Assert.NotNull(reopened.Get("cp-0")!.JoinedAt);
    }

    [Fact]
    public async Task A_store_that_wrote_last_still_reads_what_another_store_wrote_after_it()
    {
        // The store skips re-reading the file it wrote itself; a write by another process in between must be seen.
        var serve = await OpenAsync();
        var other = await OpenAsync();
        await serve.RecordDeliveryAsync("worker-0", DeliveryKinds.Ignition, "192.0.2.30", Ct);
        await other.MarkJoinedAsync(["cp-0"], Ct);
        _time.Advance(TimeSpan.FromSeconds(1));
        await serve.RecordDeliveryAsync("worker-1", DeliveryKinds.Ignition, "192.0.2.31", Ct);
        await serve.RecordDeliveryAsync("worker-0", DeliveryKinds.Ignition, "192.0.2.30", Ct);

        var reopened = await OpenAsync();
        Assert.NotNull(reopened.Get("cp-0")!.JoinedAt);
        Assert.Equal(2, reopened.Get("worker-0")!.Deliveries.Length);
        Assert.Single(reopened.Get("worker-1")!.Deliveries);
    }

    [Fact]
    public async Task Changed_names_the_machines_whose_state_changed()
    {
        var store = await OpenAsync();
        var seen = new List<string>();
        store.Changed += names => { lock (seen) seen.AddRange(names); };

        await store.RecordDeliveryAsync("worker-0", DeliveryKinds.Ignition, null, Ct);
        await store.MarkJoinedAsync(["worker-0"], Ct);
        await store.MarkJoinedAsync(["worker-0"], Ct); // already joined: nothing changes

        Assert.Equal(["worker-0", "worker-0"], seen);
    }

    [Fact]
    public async Task Corrupt_file_is_an_error_that_names_it()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(StorePath)!);
        await File.WriteAllTextAsync(StorePath, "{ not json", Ct);

        var error = await Assert.ThrowsAsync<InvalidDataException>(OpenAsync);
        Assert.Contains(StorePath, error.Message);
    }
}
