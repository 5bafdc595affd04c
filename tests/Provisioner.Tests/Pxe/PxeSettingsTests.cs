using System.Net;
using Provisioner.Cli;
using Provisioner.Pxe;
using Provisioner.Primitives;

namespace Provisioner.Tests.Pxe;

public sealed class PxeSettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("pxe-settings-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static PxeOptions? Resolve(params PxeSettingsLayer[] layers) => Settings.ResolvePxe(layers);

    [Fact]
    public void Both_services_are_off_unless_asked_for() =>
        Assert.Null(Resolve(new PxeSettingsLayer(IpxeDirectory: "/x", UefiBootFile: "snponly.efi")));

    [Fact]
    public void A_bare_tftp_address_means_port_69() =>
        Assert.Equal(new IPEndPoint(IPAddress.Any, 69), Resolve(new PxeSettingsLayer(Tftp: "0.0.0.0"))!.Tftp);

    [Theory]
    [InlineData("127.0.0.1:6969", "127.0.0.1", 6969)]
    [InlineData("[::1]:69", "::1", 69)]
    [InlineData("[::]", "::", 69)]
    public void A_tftp_address_with_a_port_is_taken_as_given(string text, string address, int port) =>
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), Resolve(new PxeSettingsLayer(Tftp: text))!.Tftp);

    [Theory]
    [InlineData("tftp.example:69", "is not an IP address")]
    [InlineData("1.2.3", "is not an IP address")]
    [InlineData("127.0.0.1:70000", "is not a port")]
    [InlineData("::1:69", "brackets")]
    public void A_malformed_tftp_address_is_refused_naming_the_flag(string text, string reason)
    {
        var e = Assert.Throws<SettingsException>(() => Resolve(new PxeSettingsLayer(Tftp: text)));
        Assert.StartsWith("--tftp: ", e.Message);
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void An_unknown_uefi_boot_file_is_refused() =>
        Assert.Contains("'grub.efi' is not 'ipxe.efi' or 'snponly.efi'",
            Assert.Throws<SettingsException>(() => Resolve(new PxeSettingsLayer(Tftp: "0.0.0.0", UefiBootFile: "grub.efi"))).Message);

    [Fact]
    public void Proxy_dhcp_alone_turns_pxe_on_with_the_debian_defaults()
    {
        var options = Resolve(new PxeSettingsLayer(ProxyDhcp: "eth1"))!;
        Assert.Equal(new PxeOptions(null, "eth1", "/usr/lib/ipxe", "ipxe.efi", null, false), options);
    }

    [Fact]
    public void Flags_win_over_environment_which_wins_over_the_file()
    {
        var env = Settings.PxeFromEnvironment(name => name switch
        {
            "PROVISIONER_TFTP" => "192.0.2.1",
            "PROVISIONER_PROXY_DHCP" => "eth-env",
            "PROVISIONER_PXE_CHAIN_FIRST" => "true",
            _ => null,
        });
        var file = new PxeSettingsLayer(Tftp: "192.0.2.9", ProxyDhcp: "eth-file", UefiBootFile: "snponly.efi");
        var flags = new PxeSettingsLayer(Tftp: "127.0.0.1:6969");

        var options = Resolve(flags, env, file)!;

        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 6969), options.Tftp);
        Assert.Equal("eth-env", options.ProxyDhcpInterface);
        Assert.True(options.ChainFirst);
        Assert.Equal("snponly.efi", options.UefiBootFile);
    }

    [Fact]
    public void Provisioner_yaml_carries_the_pxe_settings()
    {
        var path = Path.Combine(_dir, "provisioner.yaml");
        File.WriteAllText(path, "tftp: 0.0.0.0:69\nproxyDhcp: br0\nipxeDir: /opt/ipxe\nuefiBootFile: snponly.efi\ntftpRoot: /srv/tftp\npxeChainFirst: yes\n");

        var options = Settings.Resolve(Settings.FromFile(path, explicitlyGiven: true)).Pxe;

        Assert.Equal(new PxeOptions(new IPEndPoint(IPAddress.Any, 69), "br0", "/opt/ipxe", "snponly.efi", "/srv/tftp", true), options);
    }

    [Fact]
    public void An_unknown_yaml_key_lists_the_pxe_keys_among_the_known_ones()
    {
        var path = Path.Combine(_dir, "provisioner.yaml");
        File.WriteAllText(path, "tftpp: 0.0.0.0\n");

        var e = Assert.Throws<SettingsException>(() => Settings.FromFile(path, explicitlyGiven: true));

        Assert.Contains("unknown setting 'tftpp'", e.Message);
        Assert.Contains("tftp, tftpRoot, proxyDhcp", e.Message);
    }
}
