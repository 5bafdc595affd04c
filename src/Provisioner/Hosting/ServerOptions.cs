using System.Globalization;
using System.Net;

namespace Provisioner.Hosting;

internal enum LogFormat { Text, Json }

/// <summary>Everything <c>provisioner serve</c> needs, resolved from flags, environment and provisioner.yaml.</summary>
internal sealed record ServerOptions
{
    public required string ProfilesDirectory { get; init; }
    public required string TemplatesDirectory { get; init; }
    /// <summary>Why <see cref="TemplatesDirectory"/> is the one used (a flag, a variable, beside the profiles, shipped), for the logs.</summary>
    public string? TemplatesOrigin { get; init; }
    public required string AssetsDirectory { get; init; }
    /// <summary>
    /// The rendered cluster (auth/, tls/, manifests/, bootstrap tokens); null means <c>cluster/</c> beside the
    /// profiles directory. Not to be confused with <see cref="AssetsDirectory"/>, the boot files served at /assets.
    /// </summary>
    public string? ClusterDirectory { get; init; }
    public string ResolvedClusterDirectory =>
        ClusterDirectory ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(ProfilesDirectory.TrimEnd('/')))!, "cluster");
    /// <summary>Explicit listen addresses; empty means the defaults (127.0.0.1:8080 plus the profiles' address).</summary>
    public IReadOnlyList<ListenAddress> Listen { get; init; } = [];
    /// <summary>
    /// Where the TLS listener (machines' real configs) listens; empty means the defaults: each plain listen address on
    /// port <see cref="DefaultTlsPort"/> (port 0 where the plain listener asks for 0).
    /// </summary>
    public IReadOnlyList<ListenAddress> ListenTls { get; init; } = [];
    public const int DefaultTlsPort = 8443;
    /// <summary>The operator's own serving certificate (PEM, chain allowed) and key; null: issued from the Provisioner CA.</summary>
    public string? TlsCertificateFile { get; init; }
    public string? TlsKeyFile { get; init; }
    /// <summary>Boot tickets and the armed window (see README, "Security model").</summary>
    public Provisioner.Boot.DeliveryOptions Delivery { get; init; } = new();
    public LogFormat LogFormat { get; init; } = LogFormat.Text;
    public Serilog.Events.LogEventLevel MinimumLogLevel { get; init; } = Serilog.Events.LogEventLevel.Information;
    public TimeSpan ReloadDebounce { get; init; } = TimeSpan.FromMilliseconds(400);
    /// <summary>The kubelet CSR approver: kubeconfig, policy, leader election (see README, "Approving kubelet CSRs").</summary>
    public Approval.ApproverOptions Approver { get; init; } = new();
    /// <summary>The release mirror's content-addressed store; null means release-store/ beside the profiles directory.</summary>
    public string? StoreDirectory { get; init; }
    /// <summary>Built-in TFTP and ProxyDHCP; null = both off.</summary>
    public Provisioner.Pxe.PxeOptions? Pxe { get; init; }
    /// <summary>The web console and its change feed: stuck threshold, keep-alive, debounce.</summary>
    public Provisioner.WebConsole.ConsoleOptions Console { get; init; } = new();
}

/// <summary>An <c>ADDR:PORT</c> to listen on; IPv6 as <c>[::1]:8080</c>; port 0 picks a free port.</summary>
internal sealed record ListenAddress(IPAddress Address, int Port)
{
    public static readonly ListenAddress Default = new(IPAddress.Loopback, 8080);

    public static bool TryParse(string text, out ListenAddress? result, out string error)
    {
        result = null;
        error = "";
        var i = text.LastIndexOf(':');
        if (i <= 0 || i == text.Length - 1) { error = $"'{text}' is not ADDR:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)"; return false; }
        var host = text[..i];
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        else if (host.Contains(':')) { error = $"'{text}': write IPv6 addresses in brackets, e.g. [::1]:8080"; return false; }
        if (!IPAddress.TryParse(host, out var address)) { error = $"'{host}' in '{text}' is not an IP address"; return false; }
        if (!int.TryParse(text[(i + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
        { error = $"'{text[(i + 1)..]}' in '{text}' is not a port (0-65535)"; return false; }
        result = new ListenAddress(address, port);
        return true;
    }

    public override string ToString() => Address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{Address}]:{Port}" : $"{Address}:{Port}";
}
