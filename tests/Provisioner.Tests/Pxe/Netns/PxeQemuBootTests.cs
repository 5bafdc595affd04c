using System.Diagnostics;
using Provisioner.Tests.Boot.Qemu;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Pxe.Netns;

/// <summary>
/// The full chain without QEMU's built-in DHCP/TFTP: a VM on a tap device in a namespace the test creates, where
/// dnsmasq (DHCP only) gives the address and the provisioner's ProxyDHCP the boot information. The NIC ROM is
/// Debian's iPXE (ipxe-qemu), which identifies itself with user class "iPXE".
/// </summary>
[Trait(Category.Name, Category.Slow)]
[Trait(Category.Name, Category.Integration)]
public sealed class PxeQemuBootTests
{
    private const string Tap = "tap0";
    private static readonly TimeSpan BiosBudget = TimeSpan.FromMinutes(6), UefiBudget = TimeSpan.FromMinutes(8);

    [Fact]
    public async Task An_ipxe_rom_gets_boot_ipxe_at_once_and_boots_to_its_ignition_config()
    {
        const string mac = "52:54:00:12:35:01";

        using var tree = new ProfileTree(); // provisionerUrl http://192.0.2.1:8080 is the lab's address
        var lab = await BootAsync(tree, "pxe-rom", mac, QemuFirmware.Bios, chainFirst: false);
        await using (lab)
        {
            var answers = lab.ProxyDhcpAnswers(mac);
            Assert.NotEmpty(answers);
            Assert.All(answers, a => Assert.Contains("IpxeScript", a));
            Assert.All(answers, a => Assert.EndsWith(": http://192.0.2.1:8080/boot.ipxe", a));
            Assert.DoesNotContain(lab.Provisioner.Lines, l => l.Contains("TFTP 192.0.2."));
        }
    }

    [Fact]
    public async Task With_chain_first_the_rom_loads_undionly_kpxe_over_tftp_once_then_boot_ipxe()
    {
        const string mac = "52:54:00:12:35:02";

        using var tree = new ProfileTree(); // provisionerUrl http://192.0.2.1:8080 is the lab's address
        var lab = await BootAsync(tree, "pxe-chain", mac, QemuFirmware.Bios, chainFirst: true);
        await using (lab)
        {
            var answers = lab.ProxyDhcpAnswers(mac);
            // The TFTP boot file for one DHCP transaction only, and from then on only boot.ipxe: no chainload loop.
            var hops = OneTransactionOfTftpAnswersFirst(answers);
            Assert.All(hops, hop => Assert.EndsWith(": undionly.kpxe", hop));
            Assert.All(answers.Skip(hops.Count), a => Assert.EndsWith(": http://192.0.2.1:8080/boot.ipxe", a));
            Assert.NotEmpty(answers.Skip(hops.Count));
            Assert.Single(lab.Provisioner.Lines, l => l.Contains("TFTP 192.0.2.") && l.Contains("undionly.kpxe: complete"));
        }
    }

    [Fact]
    public async Task With_chain_first_uefi_firmware_loads_ipxe_efi_over_tftp_once_then_boot_ipxe()
    {
        const string mac = "52:54:00:12:35:03";

        using var tree = new ProfileTree(); // provisionerUrl http://192.0.2.1:8080 is the lab's address
        var lab = await BootAsync(tree, "pxe-uefi", mac, QemuFirmware.Uefi, chainFirst: true);
        await using (lab)
        {
            var answers = lab.ProxyDhcpAnswers(mac);
            var hops = OneTransactionOfTftpAnswersFirst(answers);
            Assert.All(hops, hop => Assert.Contains("(arch 7, iPXE): ipxe.efi", hop));
            Assert.All(answers.Skip(hops.Count), a => Assert.EndsWith(": http://192.0.2.1:8080/boot.ipxe", a));
            Assert.NotEmpty(answers.Skip(hops.Count));
            Assert.Single(lab.Provisioner.Lines, l => l.Contains("TFTP 192.0.2.") && l.Contains("ipxe.efi: complete"));
        }
    }

    /// <summary>
    /// The answers that sent the firmware to TFTP: they come first and all belong to one DHCP transaction (its
    /// DISCOVER, REQUEST or a retransmission may each be answered; the firmware then loads the binary once).
    /// </summary>
    private static IReadOnlyList<string> OneTransactionOfTftpAnswersFirst(IReadOnlyList<string> answers)
    {
        var hops = answers.TakeWhile(a => a.Contains("TftpBinary")).ToList();
        Assert.NotEmpty(hops);
        Assert.DoesNotContain(answers.Skip(hops.Count), a => a.Contains("TftpBinary"));
        Assert.Single(hops.Select(a => System.Text.RegularExpressions.Regex.Match(a, "xid ([0-9a-f]{8})").Groups[1].Value).Distinct(),
            xid => xid.Length == 8);
        return hops;
    }

    /// <summary>Starts the lab on a tap, boots a VM on it and verifies the chain up to Ignition.</summary>
    private static async Task<PxeLab> BootAsync(ProfileTree tree, string name, string mac, QemuFirmware firmware, bool chainFirst)
    {
        var ct = TestContext.Current.CancellationToken;
        Requires.Program("qemu-system-x86_64", "qemu-system-x86");
        var artifacts = await TestBootArtifacts.EnsureAsync(ct);
        BootVerification.WriteTestMachine(tree, artifacts, name, mac);

        var lab = await PxeLab.StartAsync(tree, Tap, ns => ns.IpAsync("tuntap", "add", "dev", Tap, "mode", "tap"),
            chainFirst ? ["--pxe-chain-first"] : []);
        try
        {
            var clock = Stopwatch.StartNew();
            await using var vm = await QemuVm.StartAsync(new QemuBootOptions
            {
                Mac = mac,
                Tap = new QemuTap(lab.Namespace.Name, Tap),
                Firmware = firmware,
            }, ct);
            try
            {
                await BootVerification.AssertBootedToIgnitionAsync(vm, name, mac, lab.HttpGetAsync,
                    firmware == QemuFirmware.Uefi ? UefiBudget : BiosBudget, ct);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                throw new Xunit.Sdk.XunitException($"{e.Message}\nprovisioner log:\n{lab.Provisioner.Tail(60)}\ndnsmasq log:\n{lab.Dnsmasq.Tail(20)}");
            }
            TestContext.Current.TestOutputHelper?.WriteLine($"{name}: reported after {clock.Elapsed.TotalSeconds:F1} s");
            return lab;
        }
        catch
        {
            await lab.DisposeAsync();
            throw;
        }
    }
}
