using System.Globalization;
using System.Net;
using Provisioner.Cli;

namespace Provisioner.Pxe;

/// <summary>PXE settings as given on one layer (flags, environment or provisioner.yaml); null = not given there.</summary>
public sealed record PxeSettingsLayer(string? Tftp = null, string? ProxyDhcp = null, string? IpxeDirectory = null,
    string? UefiBootFile = null, string? TftpRoot = null, string? ChainFirst = null);

/// <summary>
/// Reading and checking the PXE settings. Kept here rather than in <see cref="Settings"/> so the PXE capability
/// owns its spellings; <see cref="Settings"/> only delegates.
/// </summary>
public static class PxeSettings
{
    /// <summary>provisioner.yaml keys, in the order they are documented.</summary>
    public static IReadOnlyList<string> FileKeys { get; } = ["tftp", "tftpRoot", "proxyDhcp", "ipxeDir", "uefiBootFile", "pxeChainFirst"];

    public static PxeSettingsLayer FromEnvironment(Func<string, string?> env) => new(
        env("PROVISIONER_TFTP"), env("PROVISIONER_PROXY_DHCP"), env("PROVISIONER_IPXE_DIR"),
        env("PROVISIONER_UEFI_BOOT_FILE"), env("PROVISIONER_TFTP_ROOT"), env("PROVISIONER_PXE_CHAIN_FIRST"));

    /// <summary>Applies one provisioner.yaml key; false when the key is not a PXE setting.</summary>
    public static bool TryRead(ref PxeSettingsLayer layer, string key, Func<string> scalar)
    {
        switch (key)
        {
            case "tftp": layer = layer with { Tftp = scalar() }; return true;
            case "tftpRoot": layer = layer with { TftpRoot = scalar() }; return true;
            case "proxyDhcp": layer = layer with { ProxyDhcp = scalar() }; return true;
            case "ipxeDir": layer = layer with { IpxeDirectory = scalar() }; return true;
            case "uefiBootFile": layer = layer with { UefiBootFile = scalar() }; return true;
            case "pxeChainFirst": layer = layer with { ChainFirst = scalar() }; return true;
            default: return false;
        }
    }

    /// <summary>
    /// Resolves the layers (highest precedence first) into options; null when neither TFTP nor ProxyDHCP is on.
    /// Only syntax is checked here; what depends on the host (interfaces, files) is checked when the server starts.
    /// </summary>
    public static PxeOptions? Resolve(IEnumerable<PxeSettingsLayer?> layersByPrecedence)
    {
        var layers = layersByPrecedence.OfType<PxeSettingsLayer>().ToList();
        string? First(Func<PxeSettingsLayer, string?> pick) => layers.Select(pick).FirstOrDefault(v => !string.IsNullOrWhiteSpace(v))?.Trim();

        var tftpText = First(l => l.Tftp);
        var proxyDhcp = First(l => l.ProxyDhcp);
        var tftp = tftpText is null ? null : ParseTftpAddress(tftpText);
        var uefi = First(l => l.UefiBootFile) ?? PxeOptions.IpxeEfi;
        if (uefi is not (PxeOptions.IpxeEfi or PxeOptions.SnponlyEfi))
            throw new SettingsException($"--uefi-boot-file: '{uefi}' is not '{PxeOptions.IpxeEfi}' or '{PxeOptions.SnponlyEfi}'");
        var chainText = First(l => l.ChainFirst);
        var chainFirst = chainText?.ToLowerInvariant() switch
        {
            null or "false" or "0" or "no" => false,
            "true" or "1" or "yes" => true,
            _ => throw new SettingsException($"--pxe-chain-first: '{chainText}' is not true or false"),
        };
        if (tftp is null && proxyDhcp is null) return null;
        return new PxeOptions(tftp, proxyDhcp, First(l => l.IpxeDirectory) ?? Provisioner.Pxe.Tftp.IpxeBinaries.DebianDirectory, uefi,
            First(l => l.TftpRoot), chainFirst);
    }

    /// <summary><c>ADDR:PORT</c>, <c>[V6]:PORT</c>, or a bare address meaning port 69.</summary>
    public static IPEndPoint ParseTftpAddress(string text)
    {
        string host = text, portText = "";
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']');
            if (close < 0) throw new SettingsException($"--tftp: '{text}' has no closing ']'");
            host = text[1..close];
            var rest = text[(close + 1)..];
            if (rest.Length > 0)
            {
                if (!rest.StartsWith(':')) throw new SettingsException($"--tftp: '{text}' is not [ADDR]:PORT");
                portText = rest[1..];
            }
        }
        else if (text.Count(c => c == ':') == 1)
        {
            var i = text.IndexOf(':');
            host = text[..i];
            portText = text[(i + 1)..];
        }
        else if (text.Contains(':'))
            throw new SettingsException($"--tftp: '{text}': write IPv6 addresses in brackets, e.g. [::]:69");

        if (!IPAddress.TryParse(host, out var address) || (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && host.Count(c => c == '.') != 3))
            throw new SettingsException($"--tftp: '{host}' in '{text}' is not an IP address (e.g. 0.0.0.0, 192.0.2.1:69)");
        var port = PxeOptions.TftpPort;
        if (portText.Length > 0 && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535))
            throw new SettingsException($"--tftp: '{portText}' in '{text}' is not a port (0-65535)");
        return new IPEndPoint(address, port);
    }
}
