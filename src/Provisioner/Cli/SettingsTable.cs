using System.Collections.Immutable;
using System.Reflection;
using System.Text;

namespace Provisioner.Cli;

/// <summary>The commands a setting's flag is offered on (its environment and file forms are read everywhere).</summary>
[Flags]
internal enum SettingCommands
{
    Serve = 1, Validate = 2, Ipxe = 4, Ignition = 8, Render = 16,
    /// <summary>Every command that reads the profiles (the <c>release</c> commands declare their own flags).</summary>
    ReadProfiles = Serve | Validate | Ipxe | Ignition | Render,
}

internal enum SettingKind
{
    /// <summary>One value: <c>--flag VALUE</c>.</summary>
    Value,
    /// <summary>Repeatable flag; comma-separated in the environment; a YAML list or one value in the file.</summary>
    List,
    /// <summary>A flag without a value (<c>--no-approver</c>); <c>true</c>/<c>false</c> (or yes/no, 1/0) elsewhere.</summary>
    Switch,
}

/// <summary>Declares a property of <see cref="ProvisionerSettings"/> as a setting. Its spellings are derived, never written.</summary>
[AttributeUsage(AttributeTargets.Property)]
internal sealed class SettingAttribute(string description) : Attribute
{
    public string Description => description;
    public string? HelpName { get; init; }
    public SettingKind Kind { get; init; } = SettingKind.Value;
    public SettingCommands Commands { get; init; } = SettingCommands.Serve;
}

/// <summary>
/// One setting and its three spellings, all derived from the camelCase key (the provisioner.yaml key):
/// <c>logFormat</c> → <c>--log-format</c> and <c>PROVISIONER_LOG_FORMAT</c>. Deriving them is what keeps the
/// flag, the environment variable and the file key from drifting apart.
/// </summary>
internal sealed record Setting(string Key, string Description, string? HelpName, SettingKind Kind, SettingCommands Commands, PropertyInfo Property)
{
    public string Flag => "--" + Words(Key, '-', upper: false);
    public string Environment => SettingsTable.EnvironmentPrefix + Words(Key, '_', upper: true);

    private static string Words(string camel, char separator, bool upper)
    {
        var b = new StringBuilder();
        foreach (var c in camel)
        {
            if (char.IsUpper(c) && b.Length > 0) b.Append(separator);
            b.Append(upper ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
        }
        return b.ToString();
    }
}

/// <summary>
/// The one table of settings: the <see cref="SettingAttribute"/> properties of <see cref="ProvisionerSettings"/>, in
/// declaration order. Flags, <c>PROVISIONER_*</c> variables, provisioner.yaml keys, the configuration keys the
/// binder fills and README's settings table all come from here.
/// </summary>
internal static class SettingsTable
{
    public const string EnvironmentPrefix = "PROVISIONER_";

    /// <summary><c>--config</c> picks the file itself, so it has a flag and a variable but no file key.</summary>
    public const string ConfigFlag = "--config", ConfigEnvironment = EnvironmentPrefix + "CONFIG";

    public static ImmutableArray<Setting> All { get; } =
    [
        .. typeof(ProvisionerSettings).GetProperties()
            .OrderBy(p => p.MetadataToken)
            .Select(p => (Property: p, Attribute: p.GetCustomAttribute<SettingAttribute>()))
            .Where(x => x.Attribute is not null)
            .Select(x => new Setting(char.ToLowerInvariant(x.Property.Name[0]) + x.Property.Name[1..], x.Attribute!.Description,
                x.Attribute.HelpName, x.Attribute.Kind, x.Attribute.Commands, x.Property)),
    ];

    public static Setting? Find(string key) => All.FirstOrDefault(s => string.Equals(s.Key, key, StringComparison.OrdinalIgnoreCase));

    /// <summary>A pipe would end the table cell, even inside backticks.</summary>
    private static string Cell(string text) => text.Replace("|", "\\|", StringComparison.Ordinal);

    public static Setting Get(string key) => Find(key) ?? throw new InvalidOperationException($"no setting '{key}' in the settings table");

    /// <summary>README's settings table (between the <c>settings-table</c> markers), checked by a test.</summary>
    public static string Markdown()
    {
        var b = new StringBuilder();
        b.AppendLine("| flag | environment | provisioner.yaml | what |");
        b.AppendLine("|---|---|---|---|");
        foreach (var s in All)
        {
            var value = s.Kind switch
            {
                SettingKind.Switch => "",
                SettingKind.List => $" {s.HelpName} …",
                _ => $" {s.HelpName}",
            };
            var env = s.Kind switch { SettingKind.List => $"`{s.Environment}` (comma-separated)", SettingKind.Switch => $"`{s.Environment}=true`", _ => $"`{s.Environment}`" };
            var file = s.Kind switch { SettingKind.List => $"`{s.Key}:` (list)", SettingKind.Switch => $"`{s.Key}: true`", _ => $"`{s.Key}:`" };
            b.AppendLine($"| `{s.Flag}{Cell(value)}` | {env} | {file} | {Cell(s.Description).Replace("<", "&lt;", StringComparison.Ordinal)} |");
        }
        b.AppendLine($"| `{ConfigFlag} FILE` | `{ConfigEnvironment}` | — | Settings file. Default: ./{Settings.DefaultConfigFile} when present. |");
        return b.ToString();
    }
}

/// <summary>
/// The settings as configured, bound from flags, <c>PROVISIONER_*</c> and provisioner.yaml by
/// Microsoft.Extensions.Configuration (each property's configuration key is its camelCase name). Values stay text
/// here, lists comma-joined: a higher layer's list must replace a lower one's, not merge with it index by index.
/// <see cref="SettingsValidator"/> turns them into <see cref="Hosting.ServerOptions"/> or names the bad flag.
/// </summary>
internal sealed class ProvisionerSettings
{
    [Setting("Directory of machine profiles (*.yaml). Default: ./profiles.", HelpName = "DIR", Commands = SettingCommands.ReadProfiles)]
    public string? Profiles { get; set; }

    [Setting("Directory of Ignition templates. Default: ignition-templates beside the profiles directory, else the templates shipped with provisioner.",
        HelpName = "DIR", Commands = SettingCommands.ReadProfiles)]
    public string? Templates { get; set; }

    [Setting("Directory served at /assets (kernels, initrds, images). Default: ./assets.", HelpName = "DIR")]
    public string? Assets { get; set; }

    [Setting("Directory of the rendered cluster (auth/, tls/, manifests/, bootstrap tokens). Default: cluster beside the profiles directory.",
        HelpName = "DIR", Commands = SettingCommands.Serve | SettingCommands.Render)]
    public string? ClusterDir { get; set; }

    [Setting("The release store (content-addressed). Default: release-store beside the profiles directory.",
        HelpName = "DIR", Commands = SettingCommands.Serve | SettingCommands.Ipxe)]
    public string? Store { get; set; }

    [Setting("Address to listen on, ADDR:PORT; repeatable. Default: 127.0.0.1:8080 plus the profiles' provisionerUrl address.",
        HelpName = "ADDR:PORT", Kind = SettingKind.List)]
    public string? Listen { get; set; }

    [Setting("Address of the TLS listener that serves machines their real configs (secrets), ADDR:PORT; repeatable. Default: each --listen address on port 8443.",
        HelpName = "ADDR:PORT", Kind = SettingKind.List)]
    public string? ListenTls { get; set; }

    [Setting("The TLS listener's certificate (PEM; a chain may follow; machines pin the file's last certificate). Default: issued from the Provisioner CA in <cluster-dir>/tls/.",
        HelpName = "FILE")]
    public string? TlsCert { get; set; }

    [Setting("The private key of --tls-cert (PEM).", HelpName = "FILE")]
    public string? TlsKey { get; set; }

    [Setting("Log output: 'text' for people (default) or 'json' for machines.", HelpName = "text|json")]
    public string? LogFormat { get; set; }

    [Setting("Kubeconfig of the kubelet CSR approver. Default: <cluster-dir>/auth/provisioner-approver.kubeconfig when it exists, else the approver is off.",
        HelpName = "FILE")]
    public string? Kubeconfig { get; set; }

    [Setting("Do not approve kubelet CSRs.", Kind = SettingKind.Switch)]
    public string? NoApprover { get; set; }

    [Setting("Deny clearly forged CSRs (bad signature, CA use, another machine's token) instead of leaving them pending.", Kind = SettingKind.Switch)]
    public string? DenyForged { get; set; }

    // PXE: the syntax checks live with the PXE capability (Pxe/PxeSettings.cs); only the declarations are here.
    [Setting("Serve the iPXE binaries over TFTP on ADDR:PORT (ADDR alone means port 69). Off unless given.", HelpName = "ADDR:PORT")]
    public string? Tftp { get; set; }

    [Setting("Also serve this directory over TFTP.", HelpName = "DIR")]
    public string? TftpRoot { get; set; }

    [Setting("Answer PXE clients on this network interface with boot information (ProxyDHCP: never hands out addresses). Off unless given.",
        HelpName = "INTERFACE")]
    public string? ProxyDhcp { get; set; }

    [Setting($"Where undionly.kpxe, ipxe.efi and snponly.efi are. Default: {Pxe.Tftp.IpxeBinaries.DebianDirectory} (Debian package 'ipxe').", HelpName = "DIR")]
    public string? IpxeDir { get; set; }

    [Setting("Boot file for x64 UEFI PXE firmware: ipxe.efi (default) or snponly.efi.", HelpName = "NAME")]
    public string? UefiBootFile { get; set; }

    [Setting("Send NICs whose ROM already is iPXE through our iPXE binary once (over TFTP) before boot.ipxe.", Kind = SettingKind.Switch)]
    public string? PxeChainFirst { get; set; }

    [Setting("Base URL to write into the output when the profiles set no provisionerUrl.", HelpName = "URL",
        Commands = SettingCommands.Ipxe | SettingCommands.Ignition)]
    public string? BaseUrl { get; set; }
}
