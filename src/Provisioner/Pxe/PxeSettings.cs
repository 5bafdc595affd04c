using System.Globalization;
using System.Net;
using Provisioner.Primitives;

namespace Provisioner.Pxe;

/// <summary>PXE settings as given on one layer (flags, environment or provisioner.yaml); null = not given there.</summary>
/// <remarks>Property names are the settings' keys (see Cli/SettingsTable.cs) except where a key name says otherwise.</remarks>
internal sealed record PxeSettingsLayer(string? Tftp = null, string? ProxyDhcp = null,
    [property: Microsoft.Extensions.Configuration.ConfigurationKeyName("ipxeDir")] string? IpxeDirectory = null,
    string? UefiBootFile = null, string? TftpRoot = null,
    [property: Microsoft.Extensions.Configuration.ConfigurationKeyName("pxeChainFirst")] string? ChainFirst = null);

/// <summary>
/// Checking the PXE settings. Their spellings (flags, PROVISIONER_* variables, provisioner.yaml keys) are declared
/// once in the command line's settings table (Cli/SettingsTable.cs) like every other setting; what a valid value is stays here.
/// </summary>
internal static class PxeSettings
{
    /// <summary>The PXE options from the settings' text; the first bad value throws, naming its flag.</summary>
    internal static PxeOptions? ToOptions(string? tftpText, string? proxyDhcp, string? ipxeDir, string? uefiBootFile, string? tftpRoot, bool chainFirst)
    {
        var tftp = tftpText is null ? null : ParseTftpAddress(tftpText);
        var uefi = uefiBootFile ?? PxeOptions.IpxeEfi;
        if (uefi is not (PxeOptions.IpxeEfi or PxeOptions.SnponlyEfi))
            throw new SettingsException($"--uefi-boot-file: '{uefi}' is not '{PxeOptions.IpxeEfi}' or '{PxeOptions.SnponlyEfi}'");
        if (tftp is null && proxyDhcp is null) return null;
        return new PxeOptions(tftp, proxyDhcp, ipxeDir ?? Provisioner.Pxe.Tftp.IpxeBinaries.DebianDirectory, uefi, tftpRoot, chainFirst);
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

/// <summary>
/// The PXE settings as configuration holds them (text; the property names are the settings' keys, see
/// Cli/SettingsTable.cs), bound by <see cref="PxeHosting.AddPxe"/> and checked at start by <see cref="PxeStartupCheck"/>.
/// </summary>
internal sealed class PxeConfiguration
{
    public string? Tftp { get; set; }
    public string? ProxyDhcp { get; set; }
    public string? IpxeDir { get; set; }
    public string? UefiBootFile { get; set; }
    public string? TftpRoot { get; set; }
    public string? PxeChainFirst { get; set; }

    /// <summary>Whether TFTP or ProxyDHCP is asked for at all; a look at the text only.</summary>
    public static bool Requested(Microsoft.Extensions.Configuration.IConfiguration configuration) =>
        configuration["tftp"] is not null || configuration["proxyDhcp"] is not null;

    /// <summary>The typed options; null when both services are off. The first bad value throws, naming its flag.</summary>
    public PxeOptions? ToOptions() =>
        PxeSettings.ToOptions(Tftp, ProxyDhcp, IpxeDir, UefiBootFile, TftpRoot, SwitchText.Parse("--pxe-chain-first", PxeChainFirst));
}
