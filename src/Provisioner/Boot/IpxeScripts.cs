using System.Text;
using Provisioner.Profiles;
using Provisioner.Release;

namespace Provisioner.Boot;

/// <summary>
/// The iPXE scripts Provisioner hands out. Each answer is a valid script: an unknown machine is told why
/// and retries, instead of getting a 404 that would drop it into the firmware's next boot option.
/// </summary>
internal static class IpxeScripts
{
    public const string ContentType = "text/plain; charset=utf-8";
    public const int RetrySeconds = 30;

    /// <summary>
    /// The generic entry script: report what the firmware knows and chain to the machine's script. A machine script
    /// that returns without error is one that hands the machine to its firmware (install mode's disk boot under UEFI:
    /// <c>exit</c>); an <c>exit</c> there only ends that script, so this one exits too, or iPXE would retry the network.
    /// </summary>
    public static string Chain(string baseUrl) =>
        "#!ipxe\n" +
        "# Provisioner: identify this machine and fetch its own boot script.\n" +
        $"chain --autofree {baseUrl}/ipxe?mac=${{mac:hexhyp}}&uuid=${{uuid}}&serial=${{serial:uristring}}&hostname=${{hostname:uristring}}&arch=${{buildarch}}&platform=${{platform}} || goto provisioner_retry\n" +
        "# The machine's script returned: it leaves this boot to the firmware's next entry.\n" +
        "exit\n" +
        ":provisioner_retry\n" +
        "echo Provisioner could not be reached; retrying in 10 s\n" +
        "sleep 10\n" +
        $"chain --autofree {baseUrl}/boot.ipxe\n";

    /// <summary>
    /// Stands for the boot ticket in prepared scripts: <c>/ipxe</c> mints a ticket per request and puts it here, so the
    /// rest of the script is built once.
    /// </summary>
    public const string TicketPlaceholder = "@@provisioner-ticket@@";

    /// <summary>
    /// Where a machine fetches its Ignition config (the live system, or in install mode the installer): its identity,
    /// plus the one-time ticket when there is one.
    /// </summary>
    public static string IgnitionUrl(string baseUrl, MachineQuery identity, string? ticket = null) =>
        $"{baseUrl}/ignition?{BootQuery.ToQueryString(identity)}" + (ticket is null ? "" : "&ticket=" + ticket);

    /// <summary>The kernel command line Provisioner adds for every machine, before the role's own args.</summary>
    public static IReadOnlyList<string> IgnitionArgs(string baseUrl, MachineQuery identity, string? ticket = null) =>
    [
        $"ignition.config.url={IgnitionUrl(baseUrl, identity, ticket)}",
        "ignition.firstboot",
        "ignition.platform.id=metal",
    ];

    /// <summary>
    /// Install mode's kernel command line: the live system runs the installer (coreos-installer), which writes the
    /// image to <paramref name="installDisk"/> with the config from <c>coreos.inst.ignition_url</c> embedded for the
    /// installed system's first boot. The live system itself gets no config (no <c>ignition.config.url</c>).
    /// </summary>
    public static IReadOnlyList<string> InstallArgs(string baseUrl, MachineQuery identity, string installDisk, string? ticket = null) =>
    [
        "coreos.inst.install_dev=" + installDisk,
        $"coreos.inst.ignition_url={IgnitionUrl(baseUrl, identity, ticket)}",
        "ignition.firstboot",
        "ignition.platform.id=metal",
    ];

    /// <summary>
    /// The lines that boot an installed machine's disk when its role does not give its own (<c>boot.localBoot</c>):
    /// under BIOS iPXE hands over to the first hard disk; under UEFI it exits, so the firmware goes on to its next boot
    /// entry (the installed system's). iPXE knows which it runs on (<c>${platform}</c>: pcbios or efi).
    /// </summary>
    public static readonly IReadOnlyList<string> DefaultLocalBoot =
    [
        "iseq ${platform} efi && goto provisioner_efi ||",
        "sanboot --no-describe --drive 0x80 || goto provisioner_no_disk",
        ":provisioner_efi",
        "echo Provisioner: leaving iPXE; the firmware boots its next entry",
        "exit",
        ":provisioner_no_disk",
        "echo Provisioner: the first disk did not boot; leaving iPXE for the firmware's next entry",
        "exit",
    ];

    /// <summary>
    /// The answer to an install-mode machine that has been installed (phase installing or installed): boot the disk,
    /// not the network. Nothing is fetched, so the installer's own reboot does not install again.
    /// </summary>
    public static string LocalBoot(MachineSpec machine, RoleSpec role, string installDisk, string phase)
    {
        var sb = new StringBuilder("#!ipxe\n");
        sb.Append($"# Provisioner: machine {machine.Name} is installed on {installDisk} ({phase}): boot it from disk.\n");
        sb.Append($"# To install it again: provisioner machines reprovision {machine.Name}\n");
        sb.Append($"echo Provisioner: {Sanitize(machine.Name)} is installed on {Sanitize(installDisk)} ({phase}); booting from the local disk\n");
        foreach (var line in role.Boot.LocalBoot.IsEmpty ? DefaultLocalBoot : role.Boot.LocalBoot) sb.Append(line).Append('\n');
        return sb.ToString();
    }

    /// <param name="releaseArtifacts">
    /// Resolves boot references that name release artifacts (null: the reference is an asset path or URL). Such
    /// references become Provisioner's own content-addressed URLs; while one is not in the store yet, the machine
    /// gets a retry script naming it instead of a URL that would 404.
    /// </param>
    /// <param name="ticket">The boot ticket for the Ignition URL (<see cref="TicketPlaceholder"/> in prepared scripts; null: none).</param>
    public static string ForMachine(string baseUrl, ProfileSet profiles, MachineSpec machine, MachineQuery identity,
        Func<string, BootArtifact?>? releaseArtifacts = null, string? ticket = null)
    {
        var role = profiles.Roles[machine.Role];
        var fetchQuery = BootQuery.ToQueryString(identity);
        var release = releaseArtifacts ?? (_ => null);
        var argValues = role.Boot.Args.Select(a => a.Split('=', 2)).Where(kv => kv.Length == 2).Select(kv => kv[1]);
        var missing = new[] { role.Boot.Kernel }.Concat(role.Boot.Initrds).Concat(argValues)
            .Select(release).OfType<BootArtifact>().Where(a => !a.Present).DistinctBy(a => a.Name).ToList();
        if (missing.Count > 0) return MissingArtifacts(baseUrl, machine, missing, fetchQuery);
        string Url(string reference) => release(reference) is { Sha256: { } sha }
            ? $"{baseUrl}/assets/sha256/{sha.Hex}?{fetchQuery}"
            : AssetUrl(baseUrl, reference, fetchQuery);
        var initrds = role.Boot.Initrds.Select((path, i) => (Name: $"initrd{i}", Url: Url(path))).ToList();

        var args = new List<string>();
        // Under UEFI, iPXE passes initrds to the kernel only when named on the command line.
        args.AddRange(initrds.Select(i => $"initrd={i.Name}"));
        var installDisk = profiles.InstallDiskOf(machine);
        if (installDisk is null) args.AddRange(IgnitionArgs(baseUrl, identity, ticket));
        // An install key the role's own args set (coreos.inst.install_dev=…, say) is the operator's: not given twice.
        else args.AddRange(InstallArgs(baseUrl, identity, installDisk, ticket).Where(a => !role.Boot.Args.Any(r => r.Split('=', 2)[0] == a.Split('=', 2)[0])));
        if (!role.Boot.Args.Any(a => a.StartsWith("console=", StringComparison.Ordinal)))
            args.AddRange(["console=tty0", "console=ttyS0,115200n8"]);
        // key=<artifact name> (coreos.live.rootfs_url=fcos/rootfs.img) becomes key=<Provisioner's URL for it>.
        args.AddRange(role.Boot.Args.Select(a => a.Split('=', 2) is [var key, var value] && release(value) is { Sha256: { } sha }
            ? $"{key}={baseUrl}/assets/sha256/{sha.Hex}" : a));

        var sb = new StringBuilder();
        sb.Append("#!ipxe\n");
        sb.Append($"# Provisioner: machine {machine.Name}, role {role.Name}\n");
        sb.Append(installDisk is null
            ? $"echo Provisioner: booting {machine.Name} ({role.Name})\n"
            : $"echo Provisioner: installing {machine.Name} ({role.Name}) to {installDisk}\n");
        sb.Append($"kernel {Url(role.Boot.Kernel)} {string.Join(' ', args)}\n");
        foreach (var (name, url) in initrds) sb.Append($"initrd --name {name} {url}\n");
        sb.Append("boot\n");
        return sb.ToString();
    }

    /// <summary>The machine is known but a release artifact it boots is not mirrored and verified yet: say which, retry.</summary>
    public static string MissingArtifacts(string baseUrl, MachineSpec machine, IReadOnlyList<BootArtifact> missing, string fetchQuery)
    {
        var sb = new StringBuilder("#!ipxe\n");
        foreach (var a in missing)
            sb.Append(a.Sha256 is { } sha
                ? $"echo Provisioner: {Sanitize(machine.Name)} needs release artifact {Sanitize(a.Name)} ({a.Architecture}, sha256 {sha.Hex}), which is not downloaded and verified yet.\n"
                : $"echo Provisioner: {Sanitize(machine.Name)} needs release artifact {Sanitize(a.Name)}, which the release does not define for {Sanitize(a.Architecture)}.\n");
        sb.Append($"echo Retrying in {RetrySeconds} s.\n");
        sb.Append($"sleep {RetrySeconds}\n");
        sb.Append($"chain --replace --autofree {baseUrl}/ipxe?{fetchQuery}&arch={Uri.EscapeDataString(missing[0].Architecture)}\n");
        return sb.ToString();
    }

    public static string Unknown(string baseUrl, MachineQuery query, string requestQuery) =>
        "#!ipxe\n" +
        $"echo Provisioner: no machine profile matches this machine ({Sanitize(query.ToString())}).\n" +
        "echo It has been recorded as discovered: add it to a profile under machines: and it boots on the next try.\n" +
        $"echo Retrying in {RetrySeconds} s.\n" +
        $"sleep {RetrySeconds}\n" +
        $"chain --replace --autofree {baseUrl}/ipxe?{requestQuery}\n";

    public static string Error(string baseUrl, string reason) =>
        "#!ipxe\n" +
        $"echo Provisioner: {Sanitize(reason)}\n" +
        $"echo Retrying in {RetrySeconds} s.\n" +
        $"sleep {RetrySeconds}\n" +
        $"chain --replace --autofree {baseUrl}/boot.ipxe\n";

    private static string AssetUrl(string baseUrl, string reference, string fetchQuery)
    {
        if (reference.StartsWith("http://", StringComparison.Ordinal) || reference.StartsWith("https://", StringComparison.Ordinal))
            return reference;
        var path = string.Join('/', reference.Split('/').Select(Uri.EscapeDataString));
        return $"{baseUrl}/assets/{path}?{fetchQuery}";
    }

    /// <summary>Text from the network echoed into a script: no newlines, no iPXE expansions.</summary>
    private static string Sanitize(string text) =>
        new string(text.Where(c => c >= ' ' && c < 127).ToArray()).Replace("${", "$ {", StringComparison.Ordinal);
}
