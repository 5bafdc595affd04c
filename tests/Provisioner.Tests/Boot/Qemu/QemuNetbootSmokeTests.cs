using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Boot.Qemu;

/// <summary>
/// Boots a real (emulated) machine over the network: firmware → iPXE → kernel + initramfs over
/// HTTP → Ignition fetch → progress report, against a server that speaks the boot contract.
/// </summary>
[Trait(Category.Name, Category.Slow)]
[Trait(Category.Name, Category.Integration)]
public sealed class QemuNetbootSmokeTests
{
    [Fact]
    public Task Bios_machine_netboots_fetches_ignition_and_reports_its_hash() =>
        BootAndVerifyAsync(QemuFirmware.Bios, "52:54:00:12:34:56", TimeSpan.FromMinutes(6));

    [Fact]
    public Task Uefi_machine_netboots_fetches_ignition_and_reports_its_hash() =>
        BootAndVerifyAsync(QemuFirmware.Uefi, "52:54:00:12:34:57", TimeSpan.FromMinutes(8));

    private static async Task BootAndVerifyAsync(QemuFirmware firmware, string mac, TimeSpan budget)
    {
        var ct = TestContext.Current.CancellationToken;
        var output = TestContext.Current.TestOutputHelper;
        Requires.Program("qemu-system-x86_64", "qemu-system-x86");

        var artifacts = await TestBootArtifacts.EnsureAsync(ct);
        // Unique per firmware so a stale or cross-wired answer cannot produce the expected hash.
        var tag = $"{firmware.ToString().ToLowerInvariant()}-{mac.Replace(":", "")}";
        var ignition = Encoding.UTF8.GetBytes(
            """{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/hostname","contents":{"source":"data:,""" + tag + "\"}}]}}");
        var expectedHash = Convert.ToHexStringLower(SHA256.HashData(ignition));

        await using var server = await ContractBootServer.StartAsync(artifacts, ignition, ct);
        var clock = Stopwatch.StartNew();
        await using var vm = await QemuVm.StartAsync(new QemuBootOptions { Mac = mac, BootUrl = server.BootUrl, Firmware = firmware }, ct);

        var verdict = await vm.WaitForConsoleLineAsync(
            l => l.StartsWith("PROVISIONER-REPORTED", StringComparison.Ordinal) || l.StartsWith("PROVISIONER-FAILED", StringComparison.Ordinal),
            budget, ct);
        var reportedAt = clock.Elapsed;
        Assert.True(verdict.StartsWith("PROVISIONER-REPORTED", StringComparison.Ordinal), $"guest failed: {verdict}\n{vm.Diagnostics()}");
        var exitCode = await vm.WaitForExitAsync(TimeSpan.FromSeconds(60), ct);
        output?.WriteLine($"{firmware}: reported after {reportedAt.TotalSeconds:F1} s, QEMU exited ({exitCode}) after {clock.Elapsed.TotalSeconds:F1} s");

        var hashLine = vm.ConsoleLines.Single(l => l.StartsWith("PROVISIONER-IGNITION-SHA256=", StringComparison.Ordinal));
        Assert.Equal(expectedHash, hashLine["PROVISIONER-IGNITION-SHA256=".Length..]);

        // The whole chain, in order: the first request carries no MAC (it comes from the DHCP boot file).
        var hits = server.Hits;
        var trace = string.Join("\n", hits.Select(h => $"{h.Path} mac={h.Mac}"));
        Assert.True(hits.Count > 0 && hits[0].Path == "/boot.ipxe", $"first request was not /boot.ipxe:\n{trace}");
        var macHits = hits.Where(h => h.Mac == mac).Select(h => h.Path).ToArray();
        Assert.Equal(["/ipxe", "/assets/vmlinuz", "/assets/initramfs.img", "/ignition", "/api/v1/progress"], macHits);
        Assert.All(hits.Skip(1), h => Assert.Equal(mac, h.Mac));

        var report = Assert.Single(server.Progress);
        Assert.Equal(mac, report.Mac);
        Assert.Equal("ignition-fetched", report.Stage);
        Assert.Equal("sha256:" + expectedHash, report.Detail);
        Assert.Equal(0, exitCode);
    }
}
