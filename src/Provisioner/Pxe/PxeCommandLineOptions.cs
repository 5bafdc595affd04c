using System.CommandLine;

namespace Provisioner.Pxe;

/// <summary>The <c>serve</c> flags of the PXE services. Spellings are stable: scripts depend on them.</summary>
public sealed class PxeCommandLineOptions
{
    private readonly Option<string?> _tftp = new("--tftp")
    {
        Description = "Serve the iPXE binaries over TFTP on ADDR:PORT (ADDR alone means port 69). Off unless given. Or PROVISIONER_TFTP.",
        HelpName = "ADDR:PORT",
    };
    private readonly Option<string?> _tftpRoot = new("--tftp-root") { Description = "Also serve this directory over TFTP.", HelpName = "DIR" };
    private readonly Option<string?> _proxyDhcp = new("--proxy-dhcp")
    {
        Description = "Answer PXE clients on this network interface with boot information (ProxyDHCP: never hands out addresses). Off unless given. Or PROVISIONER_PROXY_DHCP.",
        HelpName = "INTERFACE",
    };
    private readonly Option<string?> _ipxeDir = new("--ipxe-dir")
    {
        Description = $"Where undionly.kpxe, ipxe.efi and snponly.efi are. Default: {Tftp.IpxeBinaries.DebianDirectory} (Debian package 'ipxe').",
        HelpName = "DIR",
    };
    private readonly Option<string?> _uefiBootFile = new("--uefi-boot-file") { Description = "Boot file for x64 UEFI PXE firmware: ipxe.efi (default) or snponly.efi.", HelpName = "NAME" };
    private readonly Option<bool?> _chainFirst = new("--pxe-chain-first")
    {
        Description = "Send NICs whose ROM already is iPXE through our iPXE binary once (over TFTP) before boot.ipxe.",
    };

    public IReadOnlyList<Option> All => [_tftp, _tftpRoot, _proxyDhcp, _ipxeDir, _uefiBootFile, _chainFirst];

    /// <summary>The flags layer; commands without these options yield an empty layer.</summary>
    public PxeSettingsLayer Read(ParseResult result) => new(
        result.GetValue(_tftp), result.GetValue(_proxyDhcp), result.GetValue(_ipxeDir), result.GetValue(_uefiBootFile),
        result.GetValue(_tftpRoot), result.GetValue(_chainFirst) is { } chain ? (chain ? "true" : "false") : null);
}
