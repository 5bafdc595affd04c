namespace Provisioner.Tests.Boot.Qemu;

internal enum QemuFirmware
{
    /// <summary>SeaBIOS with the iPXE legacy option ROM of the e1000 NIC.</summary>
    Bios,
    /// <summary>OVMF (UEFI) with the iPXE EFI driver of the e1000 NIC.</summary>
    Uefi,
}

/// <summary>A tap device the VM's NIC is plugged into, inside a network namespace the test created.</summary>
/// <param name="Namespace">The namespace QEMU runs in (via <c>ip netns exec</c>); the tap must exist there.</param>
internal sealed record QemuTap(string Namespace, string Interface);

/// <summary>How to start one network-booting VM. The NIC is an e1000, by default on QEMU user networking
/// (where 10.0.2.2 is the host's loopback and QEMU's DHCP hands out <see cref="BootUrl"/>), or on a
/// <see cref="Tap"/> where the network's own DHCP and PXE servers answer.</summary>
internal sealed record QemuBootOptions
{
    /// <summary>MAC address of the NIC, colon form (52:54:00:12:34:56).</summary>
    public required string Mac { get; init; }

    /// <summary>User networking: the DHCP boot file handed to iPXE, e.g. http://10.0.2.2:PORT/boot.ipxe.</summary>
    public string? BootUrl { get; init; }

    /// <summary>When set, the NIC uses this tap instead of user networking, and <see cref="BootUrl"/> must be null.</summary>
    public QemuTap? Tap { get; init; }

    public QemuFirmware Firmware { get; init; } = QemuFirmware.Bios;

    public int MemoryMb { get; init; } = 512;

    /// <summary>A guest reboot restarts the firmware (and so network-boots again) instead of ending QEMU.</summary>
    public bool AllowReboot { get; init; }

    /// <summary>Where the console log and the OVMF variable store go. Default: a fresh temp
    /// directory that is deleted on dispose (the log stays available through <see cref="QemuVm.ConsoleLog"/>).</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>
    /// Boot this kernel and initramfs directly (QEMU's <c>-kernel</c>), skipping the firmware's network boot: for tests of
    /// the test initramfs itself. The NIC still comes up on <see cref="BootUrl"/>'s user network.
    /// </summary>
    public QemuDirectKernel? DirectKernel { get; init; }

    /// <summary>Appended verbatim to the QEMU command line.</summary>
    public IReadOnlyList<string> ExtraArgs { get; init; } = [];
}

/// <summary>A kernel, its initramfs and its command line for QEMU's direct kernel boot.</summary>
internal sealed record QemuDirectKernel(string Kernel, string Initramfs, string CommandLine);
