namespace Provisioner.Tests.Boot.Qemu;

public enum QemuFirmware
{
    /// <summary>SeaBIOS with the iPXE legacy option ROM of the e1000 NIC.</summary>
    Bios,
    /// <summary>OVMF (UEFI) with the iPXE EFI driver of the e1000 NIC.</summary>
    Uefi,
}

/// <summary>How to start one network-booting VM. The NIC is an e1000 on QEMU user networking,
/// where 10.0.2.2 is the host's loopback.</summary>
public sealed record QemuBootOptions
{
    /// <summary>MAC address of the NIC, colon form (52:54:00:12:34:56).</summary>
    public required string Mac { get; init; }

    /// <summary>The DHCP boot file handed to iPXE, e.g. http://10.0.2.2:PORT/boot.ipxe.</summary>
    public required string BootUrl { get; init; }

    public QemuFirmware Firmware { get; init; } = QemuFirmware.Bios;

    public int MemoryMb { get; init; } = 512;

    /// <summary>Where the console log and the OVMF variable store go. Default: a fresh temp
    /// directory that is deleted on dispose (the log stays available through <see cref="QemuVm.ConsoleLog"/>).</summary>
    public string? WorkDirectory { get; init; }

    /// <summary>Appended verbatim to the QEMU command line.</summary>
    public IReadOnlyList<string> ExtraArgs { get; init; } = [];
}
