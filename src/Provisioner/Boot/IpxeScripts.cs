using System.Text;
using Provisioner.Profiles;
using Provisioner.Release;

namespace Provisioner.Boot;

/// <summary>
/// The iPXE scripts Provisioner hands out. Each answer is a valid script: an unknown machine is told why
/// and retries, instead of getting a 404 that would drop it into the firmware's next boot option.
/// </summary>
public static class IpxeScripts
{
    public const string ContentType = "text/plain; charset=utf-8";
    public const int RetrySeconds = 30;

    /// <summary>The generic entry script: report what the firmware knows and chain to the machine's script.</summary>
    public static string Chain(string baseUrl) =>
        "#!ipxe\n" +
        "# Provisioner: identify this machine and fetch its own boot script.\n" +
        $"chain --autofree {baseUrl}/ipxe?mac=${{mac:hexhyp}}&uuid=${{uuid}}&serial=${{serial:uristring}}&hostname=${{hostname:uristring}}&arch=${{buildarch}}&platform=${{platform}} ||\n" +
        "echo Provisioner could not be reached; retrying in 10 s\n" +
        "sleep 10\n" +
        $"chain --autofree {baseUrl}/boot.ipxe\n";

    /// <summary>
    /// Stands for the boot ticket in prepared scripts: <c>/ipxe</c> mints a ticket per request and puts it here, so the
    /// rest of the script is built once.
    /// </summary>
    public const string TicketPlaceholder = "@@provisioner-ticket@@";

    /// <summary>The Ignition URL for the machine: its identity, plus the one-time ticket when there is one.</summary>
    public static string IgnitionUrl(string baseUrl, MachineQuery identity, string? ticket) =>
        $"{baseUrl}/ignition?{BootQuery.ToQueryString(identity)}" + (ticket is null ? "" : "&ticket=" + ticket);

    /// <summary>The kernel command line Provisioner adds for every machine, before the role's own args.</summary>
    public static IReadOnlyList<string> IgnitionArgs(string baseUrl, MachineQuery identity, string? ticket = null) =>
    [
        $"ignition.config.url={IgnitionUrl(baseUrl, identity, ticket)}",
        "ignition.firstboot",
        "ignition.platform.id=metal",
    ];

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
        args.AddRange(IgnitionArgs(baseUrl, identity, ticket));
        if (!role.Boot.Args.Any(a => a.StartsWith("console=", StringComparison.Ordinal)))
            args.AddRange(["console=tty0", "console=ttyS0,115200n8"]);
        if (machine.InstallDisk is { } disk && !role.Boot.Args.Any(a => a.StartsWith("coreos.inst.install_dev=", StringComparison.Ordinal)))
            args.Add("coreos.inst.install_dev=" + disk);
        // key=<artifact name> (coreos.live.rootfs_url=fcos/rootfs.img) becomes key=<Provisioner's URL for it>.
        args.AddRange(role.Boot.Args.Select(a => a.Split('=', 2) is [var key, var value] && release(value) is { Sha256: { } sha }
            ? $"{key}={baseUrl}/assets/sha256/{sha.Hex}" : a));

        var sb = new StringBuilder();
        sb.Append("#!ipxe\n");
        sb.Append($"# Provisioner: machine {machine.Name}, role {role.Name}\n");
        sb.Append($"echo Provisioner: booting {machine.Name} ({role.Name})\n");
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
