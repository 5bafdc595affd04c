using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using Provisioner.Tests.Ignition;
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
        // No provisionerUrl: the scripts then name the address the VM used (10.0.2.2:port).
        tree.Edit("cluster.yaml", "  provisionerUrl: http://192.0.2.1:8080\n", "");
        tree.Write("roles.yaml", """
            roles:
              worker:
                boot:
                  kernel: test/vmlinuz
                  initrd: [test/initramfs.img]
                  args: [quiet]
                ignition:
                  template: worker
            """);
        var name = $"vm-{firmware.ToString().ToLowerInvariant()}";
        tree.Write("machines.yaml", $"""
            machines:
              - name: {name}
                role: worker
                select:
                  mac: {mac}
            """);
        Directory.CreateDirectory(Path.Combine(tree.Assets, "test"));
        File.Copy(artifacts.Kernel, Path.Combine(tree.Assets, "test", "vmlinuz"));
        File.Copy(artifacts.Initramfs, Path.Combine(tree.Assets, "test", "initramfs.img"));

        await using var server = await RunningServer.StartAsync(tree);
        var bootUrl = $"http://10.0.2.2:{server.BaseAddress.Port}/boot.ipxe";
        var clock = Stopwatch.StartNew();
        await using var vm = await QemuVm.StartAsync(new QemuBootOptions { Mac = mac, BootUrl = bootUrl, Firmware = firmware }, ct);

        var verdict = await vm.WaitForConsoleLineAsync(
            l => l.StartsWith("PROVISIONER-REPORTED", StringComparison.Ordinal) || l.StartsWith("PROVISIONER-FAILED", StringComparison.Ordinal),
            budget, ct);
        Assert.True(verdict.StartsWith("PROVISIONER-REPORTED", StringComparison.Ordinal), $"guest failed: {verdict}\n{vm.Diagnostics()}");
        Assert.Equal(0, await vm.WaitForExitAsync(TimeSpan.FromSeconds(60), ct));
        TestContext.Current.TestOutputHelper?.WriteLine($"{firmware}: reported after {clock.Elapsed.TotalSeconds:F1} s");

        // The server saw the whole chain for this machine, in order.
        var machine = await server.MachineAsync(name, ct);
        var stages = machine.GetProperty("history").EnumerateArray().Select(e => e.GetProperty("stage").GetString()!).ToArray();
        Assert.Equal(["ipxe", "kernel", "initrd", "ignition", "ignition-fetched"], stages);

        // What the machine hashed is exactly what the server serves for it, and that is valid Ignition 3.4.0.
        var served = await server.Client.GetByteArrayAsync($"/ignition?mac={mac.Replace(':', '-')}", ct);
        var expected = Convert.ToHexStringLower(SHA256.HashData(served));
        var hashLine = vm.ConsoleLines.Single(l => l.StartsWith("PROVISIONER-IGNITION-SHA256=", StringComparison.Ordinal));
        Assert.Equal(expected, hashLine["PROVISIONER-IGNITION-SHA256=".Length..]);
        Assert.Equal("sha256:" + expected, machine.GetProperty("history")[4].GetProperty("detail").GetString());
        await IgnitionSchema.AssertValidAsync(System.Text.Encoding.UTF8.GetString(served), "3.4.0");
    }
}
