using System.Text.RegularExpressions;

namespace Provisioner.Profiles;

/// <summary>
/// What <c>installDisk</c> may be: an absolute path below <c>/dev</c> (<c>/dev/sda</c>, <c>/dev/nvme0n1</c>,
/// <c>/dev/disk/by-id/wwn-0x5000c500a1b2c3d4</c>). It goes on the kernel command line as
/// <c>coreos.inst.install_dev</c>, so a relative name, a space or an iPXE expansion would reach the installer as
/// something else than the operator wrote.
/// </summary>
internal static partial class InstallDiskPath
{
    /// <summary>Why <paramref name="path"/> is not a usable install disk, or null when it is.</summary>
    public static string? Problem(string path)
    {
        if (!path.StartsWith("/dev/", StringComparison.Ordinal) || path.Length == "/dev/".Length)
            return $"'{path}' is not an absolute device path under /dev/ (like /dev/sda or /dev/disk/by-id/…)";
        if (!Allowed().IsMatch(path))
            return $"'{path}' contains characters a device path on the kernel command line cannot carry (allowed: letters, digits, '/', '-', '_', '.', ':', '+', '@')";
        if (path.EndsWith('/') || path.Split('/').Skip(1).Any(part => part is "" or "." or ".."))
            return $"'{path}' is not a clean path (no '//', '.', '..' or trailing '/')";
        return null;
    }

    [GeneratedRegex("^[A-Za-z0-9/_.:+@-]+$")]
    private static partial Regex Allowed();
}
