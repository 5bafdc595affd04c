namespace Provisioner.Pxe.Tftp;

/// <summary>Finds the iPXE network boot programs installed by Debian's <c>ipxe</c> package.</summary>
internal static class IpxeBinaries
{
    public const string DebianDirectory = "/usr/lib/ipxe";

    /// <summary>BIOS (UNDI chain), UEFI full driver set, and UEFI using the firmware's SNP driver.</summary>
    public static IReadOnlyList<string> WellKnownNames { get; } = ["undionly.kpxe", "ipxe.efi", "snponly.efi"];

    /// <summary>
    /// Name → path for each well-known binary present in <paramref name="directory"/>; suitable for
    /// <see cref="TftpOptions.Files"/>. Missing files are left out, so an absent package yields an empty map.
    /// </summary>
    public static IReadOnlyDictionary<string, string> Find(string directory = DebianDirectory) =>
        WellKnownNames
            .Select(name => (name, path: Path.Combine(directory, name)))
            .Where(f => File.Exists(f.path)) // follows symlinks: ipxe.efi -> /boot/ipxe.efi
            .ToDictionary(f => f.name, f => f.path, StringComparer.Ordinal);
}
