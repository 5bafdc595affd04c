using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Provisioner.Hosting;
using Provisioner.Inventory;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Boot.Qemu;

/// <summary>
/// Install mode on a real (emulated) machine, under BIOS and UEFI: its first PXE boot gets the installer's kernel
/// arguments (the test initramfs checks <c>coreos.inst.install_dev</c> and <c>coreos.inst.ignition_url</c>, fetches the
/// config as the installer would, reports <c>installed</c> as the installed system would, and reboots as the installer
/// does); the same VM's next PXE boot gets the boot-from-disk script and fetches no kernel (BIOS: iPXE's sanboot runs
/// the disk's boot sector, which says so on the serial port and ends QEMU; UEFI: iPXE exits and the firmware goes on to
/// its next boot entry); after <c>provisioner machines reprovision</c> the machine installs again.
/// </summary>
[Trait(Category.Name, Category.Slow)]
[Trait(Category.Name, Category.Integration)]
public sealed class InstallBootTests
{
    private const string DiskBooted = "PROVISIONER-DISK-BOOTED";

    [Fact]
    public Task BiosMachineInstallsThenBootsItsDiskThenInstallsAgainAfterReprovision() =>
        InstallBootReprovisionAsync(QemuFirmware.Bios, "52:54:00:12:35:56");

    [Fact]
    public Task UefiMachineInstallsThenBootsItsDiskThenInstallsAgainAfterReprovision() =>
        InstallBootReprovisionAsync(QemuFirmware.Uefi, "52:54:00:12:35:57");

    private static async Task InstallBootReprovisionAsync(QemuFirmware firmware, string mac)
    {
        var ct = TestContext.Current.CancellationToken;
        var output = TestContext.Current.TestOutputHelper;
        Requires.Program("qemu-system-x86_64", "qemu-system-x86");
        var artifacts = await TestBootArtifacts.EnsureAsync(ct);

        using var tree = new ProfileTree();
        // QEMU's user network reaches the host's loopback as 10.0.2.2: that is Provisioner's address for the VM, so the
        // TLS listener's certificate names it and the pointer merges from https://10.0.2.2:<tls port>.
        var port = FreePort.Tcp();
        tree.Edit("cluster.yaml", "  provisionerUrl: http://192.0.2.1:8080\n", $"  provisionerUrl: http://10.0.2.2:{port}\n");
        var name = $"install-{firmware.ToString().ToLowerInvariant()}";
        BootVerification.WriteTestMachine(tree, artifacts, name, mac);
        tree.Edit("machines.yaml", $"      mac: {mac}", $"      mac: {mac}\n    installDisk: /dev/vda");
        var disk = Path.Combine(tree.Root, "disk.img");
        await File.WriteAllBytesAsync(disk, MarkerDisk(), ct);

        await using var server = await RunningServer.StartAsync(tree, o => o with
        {
            Listen = [new ListenAddress(IPAddress.Loopback, port)],
            ListenTls = [new ListenAddress(IPAddress.Loopback, 0)],
        });
        var url = server.BaseAddress.ToString().TrimEnd('/');
        var options = new QemuBootOptions
        {
            Mac = mac,
            BootUrl = $"http://10.0.2.2:{server.BaseAddress.Port}/boot.ipxe",
            Firmware = firmware,
            AllowReboot = true,
            ExtraArgs = firmware == QemuFirmware.Bios
                // The IDE disk is BIOS drive 0x80; the boot sector ends QEMU through the debug-exit port.
                ? ["-drive", $"file={disk},format=raw,if=ide", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"]
                : ["-drive", $"file={disk},format=raw,if=none,id=disk0", "-device", "virtio-blk-pci,drive=disk0,bootindex=2"],
        };
        var clock = Stopwatch.StartNew();
        var hash = "";

        // 1. The install: the initramfs stands in for the installer and the installed system, then reboots.
        await using (var vm = await QemuVm.StartAsync(options, ct))
        {
            hash = await WaitForInstallAsync(vm, ct);
            output?.WriteLine($"{firmware}: installed after {clock.Elapsed.TotalSeconds:F1} s");

            // 2. The installer's reboot PXE-boots the same VM again: the disk, not the network.
            if (firmware == QemuFirmware.Bios)
            {
                await vm.WaitForConsoleLineAsync(l => l.Contains(DiskBooted, StringComparison.Ordinal), TimeSpan.FromMinutes(5), ct);
                // isa-debug-exit: QEMU exits with (0 << 1) | 1.
                Assert.Equal(1, await vm.WaitForExitAsync(TimeSpan.FromSeconds(60), ct));
            }
            else
            {
                // iPXE's own console is the firmware's, which OVMF copies to the serial port: the script's echo, then
                // the firmware's boot manager going on to its next entry once iPXE has exited.
                var scriptSeen = false;
                await vm.WaitForConsoleLineAsync(l =>
                {
                    scriptSeen |= l.Contains($"Provisioner: {name} is installed on /dev/vda (installed); booting from the local disk", StringComparison.Ordinal);
                    return scriptSeen && l.Contains("BdsDxe: ", StringComparison.Ordinal);
                }, TimeSpan.FromMinutes(5), ct);
            }
            output?.WriteLine($"{firmware}: booted from disk after {clock.Elapsed.TotalSeconds:F1} s");
        }

        var machine = await server.MachineAsync(name, ct);
        Assert.Equal(MachinePhases.Installed, machine.GetProperty("phase").GetString());
        var history = Stages(machine);
        // The installer's fetch is the pointer (plain HTTP); the installed system's first boot follows it over TLS.
        Assert.Equal(["ipxe", "kernel", "initrd", "ignition", "ignition", "installed", "ipxe"], history.Select(h => h.Stage).Take(7));
        Assert.Equal("matched by mac; install to /dev/vda", history[0].Detail);
        Assert.Contains("pointer", history[3].Detail, StringComparison.Ordinal);
        Assert.Contains("config over TLS", history[4].Detail, StringComparison.Ordinal);
        // The installed system's report carries the hash of the config it got.
        Assert.Equal("sha256:" + hash, history[5].Detail);
        var diskBoots = history.Skip(6).ToList();
        Assert.All(diskBoots, h => Assert.Equal("ipxe", h.Stage));
        Assert.All(diskBoots, h => Assert.Equal("matched by mac; boot from disk /dev/vda (installed)", h.Detail));

        // 3. Reprovision: the next PXE boot installs again.
        var reprovision = await CliRun.RunAsync(["machines", "reprovision", name, "--server", url]);
        Assert.True(reprovision.Exit == 0, reprovision.Err);
        Assert.Equal(MachinePhases.Ready, (await server.MachineAsync(name, ct)).GetProperty("phase").GetString());
        await using (var again = await QemuVm.StartAsync(options, ct))
            await WaitForInstallAsync(again, ct);
        output?.WriteLine($"{firmware}: installed again after {clock.Elapsed.TotalSeconds:F1} s");
        var after = Stages(await server.MachineAsync(name, ct)).Skip(history.Count).ToList();
        Assert.Equal(["ipxe", "kernel", "initrd", "ignition", "ignition", "installed"], after.Select(h => h.Stage).Take(6));
        Assert.Equal("matched by mac; install to /dev/vda", after[0].Detail);
        Assert.Equal(MachinePhases.Installed, (await server.MachineAsync(name, ct)).GetProperty("phase").GetString());
    }

    /// <summary>The initramfs got the installer's arguments, fetched the config and reported installed; the config's SHA-256.</summary>
    private static async Task<string> WaitForInstallAsync(QemuVm vm, CancellationToken ct)
    {
        var verdict = await vm.WaitForConsoleLineAsync(
            l => l.StartsWith("PROVISIONER-REBOOTING", StringComparison.Ordinal) || l.StartsWith("PROVISIONER-FAILED", StringComparison.Ordinal),
            TimeSpan.FromMinutes(10), ct);
        Assert.True(verdict.StartsWith("PROVISIONER-REBOOTING", StringComparison.Ordinal), $"guest failed: {verdict}\n{vm.Diagnostics()}");
        var lines = vm.ConsoleLines;
        Assert.Contains("PROVISIONER-INSTALL-DEV=/dev/vda", lines);
        Assert.Contains(lines, l => l.StartsWith("PROVISIONER-INSTALL-IGNITION-URL=http://10.0.2.2:", StringComparison.Ordinal)
            && l.Contains("/ignition?mac=", StringComparison.Ordinal));
        Assert.Contains("PROVISIONER-REPORTED", lines);
        const string hashPrefix = "PROVISIONER-IGNITION-SHA256=";
        return lines.Last(l => l.StartsWith(hashPrefix, StringComparison.Ordinal))[hashPrefix.Length..];
    }

    private sealed record HistoryEntry(string Stage, string? Detail);

    private static List<HistoryEntry> Stages(JsonElement machine) =>
        [.. machine.GetProperty("history").EnumerateArray()
            .Select(e => new HistoryEntry(e.GetProperty("stage").GetString()!, e.TryGetProperty("detail", out var d) ? d.GetString() : null))];

    /// <summary>
    /// A 1 MiB raw disk whose boot sector (16-bit real mode, loaded at 0x7c00) writes <see cref="DiskBooted"/> to
    /// COM1 and then to QEMU's isa-debug-exit port: proof that the firmware ran this disk's code, and an end to the run.
    /// </summary>
    private static byte[] MarkerDisk()
    {
        var message = System.Text.Encoding.ASCII.GetBytes(DiskBooted + "\r\n\0");
        byte[] code =
        [
            0xFA, 0xFC,             // cli; cld
            0x31, 0xC0, 0x8E, 0xD8, // xor ax, ax; mov ds, ax
            0xBE, 0x00, 0x00,       // mov si, message (patched below)
            0xBA, 0xF8, 0x03,       // mov dx, 0x3f8 (COM1)
            0xAC,                   // next: lodsb
            0x84, 0xC0, 0x74, 0x03, //   test al, al; jz done
            0xEE, 0xEB, 0xF8,       //   out dx, al; jmp next
            0xBA, 0xF4, 0x00,       // done: mov dx, 0xf4 (isa-debug-exit)
            0xB0, 0x00, 0xEE,       // mov al, 0; out dx, al
            0xF4, 0xEB, 0xFE,       // hlt; jmp $
        ];
        var address = 0x7C00 + code.Length;
        code[7] = (byte)(address & 0xFF);
        code[8] = (byte)(address >> 8);
        var disk = new byte[1024 * 1024];
        code.CopyTo(disk, 0);
        message.CopyTo(disk, code.Length);
        disk[510] = 0x55;
        disk[511] = 0xAA;
        return disk;
    }
}
