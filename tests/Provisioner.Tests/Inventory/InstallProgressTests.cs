using System.Text.Json;
using Microsoft.Extensions.Time.Testing;
using Provisioner.Inventory;

namespace Provisioner.Tests.Inventory;

/// <summary>
/// Install mode's facts in the machine state store: when the installer fetched (installing) and when the installed
/// system reported (installed), each on disk when the call returns, each counting only in the round it happened in.
/// </summary>
public sealed class InstallProgressTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("install-state-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 30, 12, 0, 0, TimeSpan.Zero));
    private CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<MachineStateStore> OpenAsync() => MachineStateStore.OpenAsync(MachineStateStore.PathIn(_dir), _time, Ct);

    [Fact]
    public async Task The_installers_fetch_is_installing_on_disk_and_a_retry_keeps_the_first_time()
    {
        var store = await OpenAsync();
        await store.RecordInstallingAsync("worker-0", Ct);
        var first = _time.GetUtcNow();
        _time.Advance(TimeSpan.FromMinutes(1));
        await store.RecordInstallingAsync("worker-0", Ct);

        var reopened = await OpenAsync();
        Assert.Equal(MachinePhases.Installing, reopened.Get("worker-0")!.Phase);
        Assert.Equal(first, reopened.Get("worker-0")!.InstallingThisRound);
    }

    [Fact]
    public async Task The_installed_report_is_installed_on_disk_and_a_joined_node_is_provisioned()
    {
        var store = await OpenAsync();
        await store.RecordInstallingAsync("worker-0", Ct);
        _time.Advance(TimeSpan.FromMinutes(3));
        await store.RecordInstalledAsync("worker-0", Ct);

        var reopened = await OpenAsync();
        Assert.Equal(MachinePhases.Installed, reopened.Get("worker-0")!.Phase);
        Assert.Equal(_time.GetUtcNow(), reopened.Get("worker-0")!.InstalledThisRound);
        await reopened.MarkJoinedAsync(["worker-0"], Ct);
        Assert.Equal(MachinePhases.Provisioned, reopened.Get("worker-0")!.Phase);
        Assert.NotNull(reopened.Get("worker-0")!.InstallingThisRound);
    }

    [Fact]
    public async Task Installed_is_above_an_ignition_delivery_and_installing_too()
    {
        var store = await OpenAsync();
        await store.RecordDeliveryAsync("worker-0", DeliveryKinds.Ignition, "192.0.2.30", Ct);
        await store.RecordInstallingAsync("worker-0", Ct);
        Assert.Equal(MachinePhases.Installing, store.Get("worker-0")!.Phase);
        await store.RecordInstalledAsync("worker-0", Ct);
        Assert.Equal(MachinePhases.Installed, store.Get("worker-0")!.Phase);
    }

    [Fact]
    public async Task A_reprovision_makes_the_last_rounds_install_history_and_a_new_fetch_starts_afresh()
    {
        var store = await OpenAsync();
        await store.RecordInstallingAsync("worker-0", Ct);
        await store.RecordInstalledAsync("worker-0", Ct);
        _time.Advance(TimeSpan.FromHours(1));
        await store.ReprovisionAsync("worker-0", Ct);

        var state = (await OpenAsync()).Get("worker-0")!;
        Assert.Equal(MachinePhases.Ready, state.Phase);
        Assert.Null(state.InstallingThisRound);
        Assert.Null(state.InstalledThisRound);

        _time.Advance(TimeSpan.FromMinutes(1));
        await store.RecordInstallingAsync("worker-0", Ct);
        Assert.Equal(new InstallProgress(_time.GetUtcNow(), null), store.Get("worker-0")!.Install);
        Assert.Equal(MachinePhases.Installing, store.Get("worker-0")!.Phase);
    }

    [Fact]
    public async Task A_state_file_from_before_install_mode_reads_as_no_install()
    {
        var path = MachineStateStore.PathIn(_dir);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllTextAsync(path, """{"machines":[{"name":"worker-0","deliveries":[],"joinedAt":null}]}""", Ct);

        var state = (await OpenAsync()).Get("worker-0")!;
        Assert.Null(state.Install);
        Assert.Equal(MachinePhases.Ready, state.Phase);
    }

    [Fact]
    public async Task The_file_names_the_install_times()
    {
        var store = await OpenAsync();
        await store.RecordInstallingAsync("worker-0", Ct);
        using var file = JsonDocument.Parse(await File.ReadAllTextAsync(store.FilePath, Ct));
        var install = file.RootElement.GetProperty("machines")[0].GetProperty("install");
        Assert.Equal(_time.GetUtcNow(), install.GetProperty("installingAt").GetDateTimeOffset());
        Assert.Equal(JsonValueKind.Null, install.GetProperty("installedAt").ValueKind);
    }
}
