using System.Runtime.ExceptionServices;
using Provisioner.Pxe.Tftp;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Pxe.Netns;

/// <summary>
/// Two namespaces joined by a veth pair: the server side runs dnsmasq (addresses) and the provisioner
/// (ProxyDHCP + TFTP), the client side a scripted DHCP client. Started once for the class.
/// </summary>
public sealed class ProxyDhcpNetwork : IAsyncLifetime
{
    public const string ClientInterface = "pxc0";
    /// <summary>A second link between the namespaces, which ProxyDHCP was not asked to serve.</summary>
    public const string OtherClientInterface = "pxc1";
    private readonly ProfileTree _tree = new();
    private PxeLab? _lab;
    private NetworkNamespace? _client;
    private ExceptionDispatchInfo? _startupFailure;

    internal PxeLab Lab => _lab ?? throw new InvalidOperationException("not started");
    internal NetworkNamespace Client => _client ?? throw new InvalidOperationException("not started");

    public async ValueTask InitializeAsync()
    {
        // A fixture cannot skip: a missing prerequisite or a failed start is kept and re-raised by each test,
        // so the test reports skipped (or, under CI, failed) with the reason.
        try
        {
            _client = await NetworkNamespace.CreateAsync("cli");
            _lab = await PxeLab.StartAsync(_tree, "pxs0", ns => ns.AddVethAsync("pxs0", _client, ClientInterface));
            await _lab.Namespace.AddVethAsync("pxs1", _client, OtherClientInterface);
            await _lab.Namespace.IpAsync("addr", "add", "198.51.100.1/24", "dev", "pxs1");
        }
        catch (Exception e)
        {
            _startupFailure = ExceptionDispatchInfo.Capture(e);
        }
    }

    /// <summary>Re-raises what went wrong while starting the network (a skip stays a skip).</summary>
    internal void EnsureStarted() => _startupFailure?.Throw();

    public async ValueTask DisposeAsync()
    {
        if (_lab is not null) await _lab.DisposeAsync();
        if (_client is not null) await _client.DisposeAsync();
        _tree.Dispose();
    }
}

[Trait(Category.Name, Category.Integration)]
public sealed class ProxyDhcpNamespaceTests(ProxyDhcpNetwork network) : IClassFixture<ProxyDhcpNetwork>
{
    private const string Bios = "PXEClient:Arch:00000:UNDI:002001", UefiX64 = "PXEClient:Arch:00007:UNDI:003016";

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private void RequireNetwork()
    {
        Requires.Program("python3", "python3");
        network.EnsureStarted();
    }

    private Task<IReadOnlyList<DhcpReply>> DiscoverAsync(string mac, params string[] options) =>
        DhcpProbe.DiscoverAsync(network.Client, ProxyDhcpNetwork.ClientInterface, mac, 2, options);

    /// <summary>The one address-less PXE offer, which must come from the provisioner (checked against its log).</summary>
    private DhcpReply ProxyOffer(IReadOnlyList<DhcpReply> replies, string mac)
    {
        var offer = Assert.Single(replies, r => !r.OffersAddress);
        Assert.Equal(DhcpReply.Offer, offer.Type);
        Assert.Equal(PxeLab.ServerAddress, offer.Siaddr);
        Assert.Equal(PxeLab.ServerAddress, offer.ServerId);
        Assert.Contains(network.Lab.ProxyDhcpAnswers(mac), l => l.Contains(offer.File));
        return offer;
    }

    [Fact]
    public async Task Bios_pxe_firmware_gets_an_address_from_dnsmasq_and_undionly_kpxe_from_the_provisioner()
    {
        RequireNetwork();
        const string mac = "02:00:00:00:01:01";

        var replies = await DiscoverAsync(mac, "--vendor", Bios, "--arch", "0");

        var address = Assert.Single(replies, r => r.OffersAddress);
        Assert.InRange(int.Parse(address.Yiaddr.Split('.')[3]), 100, 199);
        Assert.Equal("", address.File);
        Assert.Null(address.Vendor);
        Assert.Contains(network.Lab.Dnsmasq.Lines, l => l.Contains($"DHCPOFFER(pxs0) {address.Yiaddr} {mac}"));
        var boot = ProxyOffer(replies, mac);
        Assert.Equal("undionly.kpxe", boot.File);
        Assert.Equal("PXEClient", boot.Vendor);
        Assert.Equal("060108ff", boot.PxeOptions);
    }

    [Theory]
    [InlineData(7, "02:00:00:00:01:07")]
    [InlineData(9, "02:00:00:00:01:09")]
    public async Task X64_uefi_pxe_firmware_is_offered_ipxe_efi(int arch, string mac)
    {
        RequireNetwork();

        var replies = await DiscoverAsync(mac, "--vendor", $"PXEClient:Arch:{arch:D5}:UNDI:003016", "--arch", arch.ToString());

        Assert.Equal("ipxe.efi", ProxyOffer(replies, mac).File);
    }

    [Fact]
    public async Task Ipxe_by_user_class_is_offered_the_boot_ipxe_url()
    {
        RequireNetwork();
        const string mac = "02:00:00:00:02:01";

        var replies = await DiscoverAsync(mac, "--vendor", UefiX64, "--arch", "7", "--user-class", "iPXE");

        Assert.Equal("http://192.0.2.1:8080/boot.ipxe", ProxyOffer(replies, mac).File);
    }

    [Fact]
    public async Task Ipxe_by_option_175_is_offered_the_boot_ipxe_url()
    {
        RequireNetwork();
        const string mac = "02:00:00:00:02:02";

        var replies = await DiscoverAsync(mac, "--vendor", Bios, "--arch", "0", "--opt175");

        Assert.Equal("http://192.0.2.1:8080/boot.ipxe", ProxyOffer(replies, mac).File);
    }

    [Fact]
    public async Task Uefi_http_boot_is_offered_the_http_url_of_ipxe_efi()
    {
        RequireNetwork();
        const string mac = "02:00:00:00:03:01";

        var replies = await DiscoverAsync(mac, "--vendor", "HTTPClient:Arch:00016:UNDI:003016", "--arch", "16");

        var offer = ProxyOffer(replies, mac);
        Assert.Equal("http://192.0.2.1:8080/pxe/ipxe.efi", offer.File);
        Assert.Equal("HTTPClient", offer.Vendor);
        Assert.Equal(await File.ReadAllBytesAsync(IpxeBinaries.Find()["ipxe.efi"], Ct), await network.Lab.HttpGetAsync("/pxe/ipxe.efi"));
    }

    [Fact]
    public async Task The_client_guid_is_echoed()
    {
        RequireNetwork();
        const string mac = "02:00:00:00:04:01";

        var replies = await DiscoverAsync(mac, "--vendor", Bios, "--arch", "0", "--uuid");

        Assert.Equal("000102030405060708090a0b0c0d0e0f10", ProxyOffer(replies, mac).Uuid);
    }

    [Fact]
    public async Task A_client_that_is_not_pxe_gets_only_its_address()
    {
        RequireNetwork();
        const string mac = "02:00:00:00:05:01";

        var replies = await DiscoverAsync(mac, "--vendor", "MSFT 5.0");

        Assert.True(Assert.Single(replies).OffersAddress);
        Assert.Empty(network.Lab.ProxyDhcpAnswers(mac));
    }

    [Fact]
    public async Task A_pxe_client_on_another_interface_of_the_server_is_not_answered()
    {
        RequireNetwork();
        const string mac = "02:00:00:00:05:02";
        int ProxyDhcpLines() => network.Lab.Provisioner.Lines.Count(l => l.Contains("ProxyDHCP"));
        var before = ProxyDhcpLines();

        var replies = await DhcpProbe.DiscoverAsync(network.Client, ProxyDhcpNetwork.OtherClientInterface, mac, 2, "--vendor", Bios, "--arch", "0");

        Assert.Empty(replies);
        // Not even an attempt to answer: the socket never sees traffic of other interfaces.
        Assert.Equal(before, ProxyDhcpLines());
    }

    [Fact]
    public async Task After_a_flood_of_random_and_mutated_datagrams_the_responder_still_answers()
    {
        RequireNetwork();
        const string mac = "02:00:00:00:08:01";

        await DhcpProbe.NoiseAsync(network.Client, ProxyDhcpNetwork.ClientInterface, "02:00:00:00:08:00", 500, "--vendor", Bios, "--arch", "0");
        var replies = await DiscoverAsync(mac, "--vendor", Bios, "--arch", "0");

        Assert.Equal("undionly.kpxe", ProxyOffer(replies, mac).File);
        // The noise reached the responder: the mutations that stayed valid DISCOVERs were answered.
        Assert.NotEmpty(network.Lab.ProxyDhcpAnswers("02:00:00:00:08:00"));
        Assert.False(network.Lab.Provisioner.HasExited);
        Assert.DoesNotContain(network.Lab.Provisioner.Lines, l => l.Contains("failed to answer"));
    }

    [Fact]
    public async Task A_renewal_unicast_to_the_dhcp_server_still_reaches_dnsmasq()
    {
        RequireNetwork();
        const string mac = "02:00:00:00:07:01";
        var client = network.Client;
        var offer = Assert.Single(await DiscoverAsync(mac), r => r.OffersAddress);
        var ack = Assert.Single(await DhcpProbe.RequestAsync(client, ProxyDhcpNetwork.ClientInterface, mac, "255.255.255.255", 67, "0.0.0.0",
            "--requested", offer.Yiaddr, "--server-id", offer.ServerId!));
        await client.IpAsync("addr", "add", ack.Yiaddr + "/24", "dev", ProxyDhcpNetwork.ClientInterface);
        try
        {
            // RFC 2131 4.4.5: RENEWING is unicast to the server. Sharing port 67 must not swallow it.
            for (var i = 0; i < 5; i++)
            {
                var renewed = await DhcpProbe.RequestAsync(client, ProxyDhcpNetwork.ClientInterface, mac, PxeLab.ServerAddress, 67, ack.Yiaddr);
                Assert.Equal(ack.Yiaddr, Assert.Single(renewed).Yiaddr);
            }
        }
        finally
        {
            await client.IpAsync("addr", "del", ack.Yiaddr + "/24", "dev", ProxyDhcpNetwork.ClientInterface);
        }
    }

    [Fact]
    public async Task Firmware_leases_from_dnsmasq_asks_the_boot_server_on_4011_and_fetches_its_boot_file_over_tftp()
    {
        RequireNetwork();
        const string mac = "02:00:00:00:06:01";
        var client = network.Client;
        string[] pxe = ["--vendor", UefiX64, "--arch", "7"];

        // DORA with the real DHCP server, as firmware does before it talks to the boot server.
        var offer = Assert.Single(await DiscoverAsync(mac, pxe), r => r.OffersAddress);
        var ack = Assert.Single(await DhcpProbe.RequestAsync(client, ProxyDhcpNetwork.ClientInterface, mac, "255.255.255.255", 67, "0.0.0.0",
            [.. pxe, "--requested", offer.Yiaddr, "--server-id", offer.ServerId!]));
        Assert.Equal(DhcpReply.Ack, ack.Type);
        Assert.Equal(offer.Yiaddr, ack.Yiaddr);
        await client.IpAsync("addr", "add", ack.Yiaddr + "/24", "dev", ProxyDhcpNetwork.ClientInterface);
        try
        {
            var boot = Assert.Single(await DhcpProbe.RequestAsync(client, ProxyDhcpNetwork.ClientInterface, mac, PxeLab.ServerAddress, 4011, ack.Yiaddr, pxe));
            Assert.Equal(DhcpReply.Ack, boot.Type);
            Assert.Equal($"{PxeLab.ServerAddress}:4011", boot.Source);
            Assert.Equal("ipxe.efi", boot.File);
            Assert.Equal(ack.Yiaddr, boot.Ciaddr);

            var local = Path.Combine(Path.GetTempPath(), $"pxe-{Guid.NewGuid():N}.efi");
            try
            {
                var tftp = await client.RunAsync(Requires.Program("tftp", "tftp-hpa"), "-m", "binary", boot.Siaddr, "-c", "get", boot.File, local);
                Assert.True(tftp.ExitCode == 0, tftp.ToString());
                Assert.Equal(await File.ReadAllBytesAsync(IpxeBinaries.Find()["ipxe.efi"], Ct), await File.ReadAllBytesAsync(local, Ct));
            }
            finally
            {
                File.Delete(local);
            }
        }
        finally
        {
            await client.IpAsync("addr", "del", ack.Yiaddr + "/24", "dev", ProxyDhcpNetwork.ClientInterface);
        }
    }
}
