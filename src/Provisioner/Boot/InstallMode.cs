using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Provisioner.Primitives;
using Provisioner.Inventory;
using Provisioner.Profiles;

namespace Provisioner.Boot;

/// <summary>
/// Install mode (<c>installDisk</c> on a machine or its role): <c>/ipxe</c> boots the live image with
/// <c>coreos.inst.install_dev</c> and <c>coreos.inst.ignition_url</c>; the installer's fetch of <c>/ignition</c> makes
/// the machine <c>installing</c>, and from then on every PXE boot of it gets a script that boots its disk, so the
/// installer's own reboot does not install again. The installed system's first boot reports stage
/// <see cref="InstalledStage"/> (<c>installed</c>). <c>machines reprovision</c> starts a new round: the next PXE boot
/// installs again. The facts live in the machine state store, so a restarted server still sends installed machines
/// to their disks.
/// </summary>
internal static class InstallMode
{
    /// <summary>The progress stage the installed system's oneshot unit reports on its first boot.</summary>
    public const string InstalledStage = "installed";

    /// <summary>Whether <c>/ipxe</c> sends the machine to its disk: install mode, and its installer fetched this round.</summary>
    public static bool BootsFromDisk(ProfileSet profiles, MachineSpec machine, MachineState? state) =>
        profiles.InstallDiskOf(machine) is not null && state?.InstallingThisRound is not null;

    /// <summary>
    /// Records an install-mode machine's fetch of its config as the installer's (phase <c>installing</c>); nothing for
    /// a live machine or one already installing. Null when done; the 503 to answer when the state cannot be written.
    /// </summary>
    public static async Task<IResult?> RecordInstallerFetchAsync(ProfileSet profiles, MachineSpec machine, MachineStateStore machineState,
        ILogger logger, CancellationToken cancellationToken)
    {
        if (profiles.InstallDiskOf(machine) is null || machineState.Get(machine.Name)?.InstallingThisRound is not null) return null;
        try
        {
            await machineState.RecordInstallingAsync(machine.Name, cancellationToken);
            logger.LogInformation("Machine {Machine} is installing to {Disk}: its PXE boots go to its disk until it is reprovisioned",
                machine.Name, profiles.InstallDiskOf(machine));
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            // Serving the config unrecorded would let the installer's reboot PXE-boot into a second install.
            logger.LogError(e, "Cannot record that {Machine} is installing in {File}", machine.Name, machineState.FilePath);
            return PlainText.Problem(StatusCodes.Status503ServiceUnavailable, "the install cannot be recorded (details in the server log); try again");
        }
    }

    /// <summary>Records the installed system's report (phase <c>installed</c>). Null when done; otherwise the answer that says why not.</summary>
    public static async Task<IResult?> RecordInstalledAsync(ProfileSet profiles, MachineSpec machine, MachineStateStore machineState,
        ILogger logger, CancellationToken cancellationToken)
    {
        if (profiles.InstallDiskOf(machine) is null)
            return PlainText.Problem(StatusCodes.Status409Conflict,
                $"machine {machine.Name} has no installDisk (on it or its role {machine.Role}): it runs live from the network, so nothing of it is installed");
        try
        {
            await machineState.RecordInstalledAsync(machine.Name, cancellationToken);
            return null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
        {
            logger.LogError(e, "Cannot record that {Machine} is installed in {File}", machine.Name, machineState.FilePath);
            return PlainText.Problem(StatusCodes.Status503ServiceUnavailable, "the report cannot be recorded (details in the server log); try again");
        }
    }
}
