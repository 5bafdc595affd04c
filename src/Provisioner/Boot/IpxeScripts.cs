using System.Text;
using Provisioner.Profiles;

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

    /// <summary>The kernel command line Provisioner adds for every machine, before the role's own args.</summary>
    public static IReadOnlyList<string> IgnitionArgs(string baseUrl, MachineQuery identity) =>
    [
        $"ignition.config.url={baseUrl}/ignition?{BootQuery.ToQueryString(identity)}",
        "ignition.firstboot",
        "ignition.platform.id=metal",
    ];

    public static string ForMachine(string baseUrl, ProfileSet profiles, MachineSpec machine, MachineQuery identity)
    {
        var role = profiles.Roles[machine.Role];
        var fetchQuery = BootQuery.ToQueryString(identity);
        var initrds = role.Boot.Initrds.Select((path, i) => (Name: $"initrd{i}", Url: AssetUrl(baseUrl, path, fetchQuery))).ToList();

        var args = new List<string>();
        // Under UEFI, iPXE passes initrds to the kernel only when named on the command line.
        args.AddRange(initrds.Select(i => $"initrd={i.Name}"));
        args.AddRange(IgnitionArgs(baseUrl, identity));
        if (!role.Boot.Args.Any(a => a.StartsWith("console=", StringComparison.Ordinal)))
            args.AddRange(["console=tty0", "console=ttyS0,115200n8"]);
        if (machine.InstallDisk is { } disk && !role.Boot.Args.Any(a => a.StartsWith("coreos.inst.install_dev=", StringComparison.Ordinal)))
            args.Add("coreos.inst.install_dev=" + disk);
        args.AddRange(role.Boot.Args);

        var sb = new StringBuilder();
        sb.Append("#!ipxe\n");
        sb.Append($"# Provisioner: machine {machine.Name}, role {role.Name}\n");
        sb.Append($"echo Provisioner: booting {machine.Name} ({role.Name})\n");
        sb.Append($"kernel {AssetUrl(baseUrl, role.Boot.Kernel, fetchQuery)} {string.Join(' ', args)}\n");
        foreach (var (name, url) in initrds) sb.Append($"initrd --name {name} {url}\n");
        sb.Append("boot\n");
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
