using System.Net;

namespace Provisioner.Pxe;

/// <summary>
/// The built-in PXE services of <c>provisioner serve</c>, resolved from flags, environment and provisioner.yaml.
/// Both services are off unless asked for: a TFTP or DHCP responder on a network must be a deliberate choice.
/// </summary>
/// <param name="Tftp">Where the TFTP server listens; null = no TFTP server.</param>
/// <param name="ProxyDhcpInterface">Network interface the ProxyDHCP responder serves; null = no ProxyDHCP.</param>
/// <param name="IpxeDirectory">Where undionly.kpxe, ipxe.efi and snponly.efi are found (Debian's <c>ipxe</c> package).</param>
/// <param name="UefiBootFile">What x64 UEFI PXE firmware gets: <c>ipxe.efi</c> (own drivers) or <c>snponly.efi</c> (firmware's).</param>
/// <param name="TftpRoot">An extra directory served over TFTP besides the iPXE binaries; null = none.</param>
/// <param name="ChainFirst">
/// Send iPXE option ROMs through our own iPXE build once (TFTP) before they get boot.ipxe, so every machine boots
/// the same iPXE whatever its NIC ships with.
/// </param>
internal sealed record PxeOptions(
    IPEndPoint? Tftp,
    string? ProxyDhcpInterface,
    string IpxeDirectory = Provisioner.Pxe.Tftp.IpxeBinaries.DebianDirectory,
    string UefiBootFile = PxeOptions.IpxeEfi,
    string? TftpRoot = null,
    bool ChainFirst = false)
{
    public const string UndionlyKpxe = "undionly.kpxe", IpxeEfi = "ipxe.efi", SnponlyEfi = "snponly.efi";
    public const int TftpPort = 69;

    public bool Enabled => Tftp is not null || ProxyDhcpInterface is not null;
}
