using System.Diagnostics;
using System.Net;
using Provisioner.Hosting;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Boot.Qemu;

/// <summary>
/// A real (emulated) machine network-boots from the real server: NIC ROM iPXE → /boot.ipxe → /ipxe →
/// kernel + initramfs from /assets → the initramfs fetches ignition.config.url and reports its hash.
/// QEMU's user network maps 10.0.2.2 to the host's loopback, where the server listens.
/// </summary>
[Trait(Category.Name, Category.Slow)]
[Trait(Category.Name, Category.Integration)]
public sealed class NetworkBootTests
{
    [Fact]
    public Task BiosMachineBootsToItsIgnitionConfig() =>
        BootAndVerifyAsync(QemuFirmware.Bios, "52:54:00:12:34:56", TimeSpan.FromMinutes(6));

    [Fact]
    public Task UefiMachineBootsToItsIgnitionConfig() =>
        BootAndVerifyAsync(QemuFirmware.Uefi, "52:54:00:12:34:57", TimeSpan.FromMinutes(8));

    private static async Task BootAndVerifyAsync(QemuFirmware firmware, string mac, TimeSpan budget)
    {
        var ct = TestContext.Current.CancellationToken;
        Requires.Program("qemu-system-x86_64", "qemu-system-x86");
        var artifacts = await TestBootArtifacts.EnsureAsync(ct);

        using var tree = new ProfileTree();
        // QEMU's user network reaches the host's loopback as 10.0.2.2: that is Provisioner's address for the VM, so the
        // TLS listener's certificate names it and the pointer merges from https://10.0.2.2:<tls port>.
        var port = FreePort.Tcp();
        tree.Edit("cluster.yaml", "  provisionerUrl: http://192.0.2.1:8080\n", $"  provisionerUrl: http://10.0.2.2:{port}\n");
        var name = $"vm-{firmware.ToString().ToLowerInvariant()}";
        BootVerification.WriteTestMachine(tree, artifacts, name, mac);

        await using var server = await RunningServer.StartAsync(tree, o => o with
        {
            Listen = [new ListenAddress(IPAddress.Loopback, port)],
            ListenTls = [new ListenAddress(IPAddress.Loopback, 0)],
        });
        var bootUrl = $"http://10.0.2.2:{port}/boot.ipxe";
        var clock = Stopwatch.StartNew();
        await using var vm = await QemuVm.StartAsync(new QemuBootOptions { Mac = mac, BootUrl = bootUrl, Firmware = firmware }, ct);

        await BootVerification.AssertBootedToIgnitionAsync(vm, name, mac, path => server.Client.GetByteArrayAsync(path, ct), budget, ct);
        TestContext.Current.TestOutputHelper?.WriteLine($"{firmware}: reported after {clock.Elapsed.TotalSeconds:F1} s");
    }
}
