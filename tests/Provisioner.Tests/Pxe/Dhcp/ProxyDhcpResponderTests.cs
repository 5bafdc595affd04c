using System.Net;
using Provisioner.Pxe.Dhcp;

namespace Provisioner.Tests.Pxe.Dhcp;

public sealed class ProxyDhcpResponderTests
{
    private static readonly IPAddress Us = IPAddress.Parse("192.0.2.1");
    private static readonly ProxyDhcpContext Context = new(Us, new Uri("http://192.0.2.1:8080/"));
    private static readonly byte[] Mac = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56];
    private static readonly HashSet<string> AllBinaries = ["undionly.kpxe", "ipxe.efi", "snponly.efi"];

    private sealed class ManualClock : TimeProvider
    {
        public DateTimeOffset Now { get; set; } = new(2026, 1, 1, 0, 0, 0, TimeSpan.Zero);
        public override DateTimeOffset GetUtcNow() => Now;
    }

    private static ProxyDhcpResponder Responder(ProxyDhcpSettings? settings = null, TimeProvider? time = null) =>
        new(settings ?? new ProxyDhcpSettings(AllBinaries), time ?? TimeProvider.System);

    /// <summary>A request as PXE firmware (or iPXE) sends it; options are added by the caller.</summary>
    private static DhcpPacket Request(DhcpMessageType type, uint xid = 0x1234, params DhcpOption[] options) => new()
    {
        TransactionId = xid,
        Flags = 0x8000,
        ClientHardwareAddress = Mac,
        Options = [new(DhcpOption.MessageType, [(byte)type]), .. options],
    };

    private static DhcpOption Vendor(string text) => DhcpOption.FromString(DhcpOption.VendorClass, text);
    private static DhcpOption Arch(ushort arch) => new(DhcpOption.ClientArchitecture, [(byte)(arch >> 8), (byte)arch]);
    private static readonly DhcpOption IpxeUserClass = DhcpOption.FromString(DhcpOption.UserClass, "iPXE");

    private static DhcpPacket Discover(ushort arch, params DhcpOption[] extra) =>
        Request(DhcpMessageType.Discover, 0x1234, [Vendor($"PXEClient:Arch:{arch:D5}:UNDI:002001"), Arch(arch), .. extra]);

    /// <summary>Answers through the wire format, as the server does, and parses the reply back.</summary>
    private static (DhcpPacket? Reply, ProxyDhcpAnswer Answer) Answer(ProxyDhcpResponder responder, DhcpPacket request,
        ProxyDhcpPort port = ProxyDhcpPort.Dhcp, ProxyDhcpContext? context = null)
    {
        var answer = responder.Handle(request.ToBytes(), port, context ?? Context);
        if (answer.Reply is null) return (null, answer);
        Assert.True(DhcpPacket.TryParse(answer.Reply.ToBytes(), out var parsed, out var error), error);
        return (parsed, answer);
    }

    private static string BootFile(ProxyDhcpResponder responder, DhcpPacket request, ProxyDhcpPort port = ProxyDhcpPort.Dhcp)
    {
        var (reply, answer) = Answer(responder, request, port);
        Assert.True(reply is not null, answer.Reason);
        return reply.BootFileName;
    }

    [Fact]
    public void Bios_pxe_firmware_is_offered_undionly_kpxe_from_us_without_an_address()
    {
        var (reply, answer) = Answer(Responder(), Discover(0));

        Assert.NotNull(reply);
        Assert.Equal(BootTarget.TftpBinary, answer.Target);
        Assert.Equal("undionly.kpxe", reply.BootFileName);
        Assert.Equal(2, reply.Op);
        Assert.Equal(DhcpMessageType.Offer, reply.MessageType);
        Assert.Equal(IPAddress.Any, reply.YourAddress);
        Assert.Equal(Us, reply.ServerAddress);
        Assert.Equal(Us, reply.ServerIdentifier);
        Assert.Equal("PXEClient", reply.VendorClass);
        Assert.Equal(0x1234u, reply.TransactionId);
        Assert.Equal(Mac, reply.ClientHardwareAddress);
    }

    [Fact]
    public void The_offer_tells_pxe_firmware_to_skip_boot_server_discovery()
    {
        var (reply, _) = Answer(Responder(), Discover(0));

        var control = Assert.Single(reply!.Encapsulated(DhcpOption.VendorSpecific));
        Assert.Equal(6, control.Code);
        Assert.Equal([8], control.Data);
    }

    [Theory]
    [InlineData(7)]
    [InlineData(9)]
    public void X64_uefi_pxe_firmware_is_offered_ipxe_efi(ushort arch) =>
        Assert.Equal("ipxe.efi", BootFile(Responder(), Discover(arch)));

    [Fact]
    public void X64_uefi_gets_snponly_efi_when_configured() =>
        Assert.Equal("snponly.efi", BootFile(Responder(new ProxyDhcpSettings(AllBinaries, "snponly.efi")), Discover(7)));

    [Fact]
    public void Uefi_http_boot_clients_get_the_http_url_of_ipxe_efi_with_vendor_class_httpclient()
    {
        var request = Request(DhcpMessageType.Discover, 1, Vendor("HTTPClient:Arch:00016:UNDI:003016"), Arch(16));

        var (reply, answer) = Answer(Responder(), request);

        Assert.Equal(BootTarget.HttpBinary, answer.Target);
        Assert.Equal("http://192.0.2.1:8080/pxe/ipxe.efi", reply!.BootFileName);
        Assert.Equal("HTTPClient", reply.VendorClass);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    public void Ipxe_clients_by_user_class_get_the_boot_ipxe_url(ushort arch)
    {
        var (reply, answer) = Answer(Responder(), Discover(arch, IpxeUserClass));

        Assert.Equal(BootTarget.IpxeScript, answer.Target);
        Assert.Equal("http://192.0.2.1:8080/boot.ipxe", reply!.BootFileName);
    }

    [Fact]
    public void Ipxe_clients_by_option_175_get_the_boot_ipxe_url() =>
        Assert.Equal("http://192.0.2.1:8080/boot.ipxe",
            BootFile(Responder(), Discover(0, new DhcpOption(DhcpOption.IpxeEncapsulated, [0x13, 1, 1]))));

    [Fact]
    public void A_boot_server_request_on_4011_is_acknowledged_with_the_same_boot_file()
    {
        var request = Request(DhcpMessageType.Request, 0x99, Vendor("PXEClient:Arch:00000:UNDI:002001"), Arch(0))
            with { ClientAddress = IPAddress.Parse("192.0.2.50") };

        var (reply, _) = Answer(Responder(), request, ProxyDhcpPort.BootServer);

        Assert.Equal(DhcpMessageType.Ack, reply!.MessageType);
        Assert.Equal("undionly.kpxe", reply.BootFileName);
        Assert.Equal(IPAddress.Parse("192.0.2.50"), reply.ClientAddress);
        Assert.Equal(IPAddress.Any, reply.YourAddress);
    }

    [Fact]
    public void The_client_guid_is_echoed()
    {
        byte[] guid = [0, .. Enumerable.Range(1, 16).Select(i => (byte)i)];

        var (reply, _) = Answer(Responder(), Discover(0, new DhcpOption(DhcpOption.ClientUuid, guid)));

        Assert.Equal(guid, reply!.Option(DhcpOption.ClientUuid));
    }

    [Fact]
    public void Without_a_client_guid_none_is_sent() =>
        Assert.Null(Answer(Responder(), Discover(0)).Reply!.Option(DhcpOption.ClientUuid));

    [Fact]
    public void The_architecture_is_read_from_the_vendor_class_when_option_93_is_missing() =>
        Assert.Equal("ipxe.efi", BootFile(Responder(), Request(DhcpMessageType.Discover, 1, Vendor("PXEClient:Arch:00007:UNDI:003016"))));

    [Theory]
    [InlineData(null)]
    [InlineData("MSFT 5.0")]
    [InlineData("android-dhcp-14")]
    public void Clients_that_are_not_pxe_are_ignored(string? vendorClass)
    {
        var request = Request(DhcpMessageType.Discover, 1, vendorClass is null ? [Arch(0)] : [Vendor(vendorClass), Arch(0)]);

        var (reply, answer) = Answer(Responder(), request);

        Assert.Null(reply);
        Assert.Contains("not a PXE client", answer.Reason);
    }

    [Fact]
    public void A_hostile_vendor_class_cannot_forge_log_lines()
    {
        var request = Request(DhcpMessageType.Discover, 1, Vendor("evil\n[12:00:00 INF] forged" + new string('x', 200)));

        var reason = Answer(Responder(), request).Answer.Reason;

        Assert.DoesNotContain('\n', reason);
        Assert.True(reason.Length < 120, reason);
    }

    [Fact]
    public void A_request_on_port_67_is_left_to_the_real_dhcp_server()
    {
        var request = Request(DhcpMessageType.Request, 1, Vendor("PXEClient:Arch:00000:UNDI:002001"), Arch(0));

        Assert.Null(Answer(Responder(), request).Reply);
    }

    [Fact]
    public void A_discover_on_port_4011_is_ignored() =>
        Assert.Null(Answer(Responder(), Discover(0), ProxyDhcpPort.BootServer).Reply);

    [Fact]
    public void A_bootreply_is_ignored() =>
        Assert.Equal("not a BOOTREQUEST", Answer(Responder(), Discover(0) with { Op = 2 }).Answer.Reason);

    [Fact]
    public void An_architecture_without_a_binary_is_ignored()
    {
        var (reply, answer) = Answer(Responder(), Discover(11)); // ARM64 UEFI

        Assert.Null(reply);
        Assert.Equal("no boot file for architecture 11", answer.Reason);
    }

    [Fact]
    public void A_binary_that_is_not_installed_is_not_offered()
    {
        var (reply, answer) = Answer(Responder(new ProxyDhcpSettings(new HashSet<string> { "ipxe.efi" })), Discover(0));

        Assert.Null(reply);
        Assert.Equal("undionly.kpxe is not installed", answer.Reason);
    }

    [Fact]
    public void Ipxe_clients_are_ignored_when_no_http_address_reaches_us()
    {
        var (reply, answer) = Answer(Responder(), Discover(0, IpxeUserClass), context: Context with { HttpBase = null });

        Assert.Null(reply);
        Assert.Contains("no HTTP address", answer.Reason);
    }

    [Fact]
    public void A_url_too_long_for_the_file_field_goes_into_option_67()
    {
        var longBase = new Uri("http://192.0.2.1:8080/" + new string('a', 150) + "/");

        var (reply, _) = Answer(Responder(), Discover(0, IpxeUserClass), context: Context with { HttpBase = longBase });

        Assert.Equal("", reply!.BootFileName);
        Assert.Equal(longBase + "boot.ipxe", System.Text.Encoding.ASCII.GetString(reply.Option(DhcpOption.BootFileName)!));
    }

    [Fact]
    public void Malformed_datagrams_are_ignored_with_the_parser_reason()
    {
        var answer = Responder().Handle(new byte[100], ProxyDhcpPort.Dhcp, Context);

        Assert.Null(answer.Reply);
        Assert.StartsWith("malformed: ", answer.Reason);
    }

    [Fact]
    public void Chain_first_sends_an_ipxe_rom_through_our_binary_for_the_whole_first_transaction()
    {
        var responder = Responder(new ProxyDhcpSettings(AllBinaries, ChainFirst: true));
        var discover = Discover(0, IpxeUserClass);
        var request = Request(DhcpMessageType.Request, discover.TransactionId, [.. discover.Options.Skip(1)]);

        Assert.Equal("undionly.kpxe", BootFile(responder, discover));
        Assert.Equal("undionly.kpxe", BootFile(responder, request, ProxyDhcpPort.BootServer));
    }

    [Fact]
    public void Chain_first_gives_the_next_transaction_of_that_mac_boot_ipxe()
    {
        var responder = Responder(new ProxyDhcpSettings(AllBinaries, ChainFirst: true));
        BootFile(responder, Discover(0, IpxeUserClass));

        var loaded = Discover(0, IpxeUserClass) with { TransactionId = 0x5678 };

        Assert.Equal("http://192.0.2.1:8080/boot.ipxe", BootFile(responder, loaded));
        Assert.Equal("http://192.0.2.1:8080/boot.ipxe", BootFile(responder, loaded));
    }

    [Fact]
    public void Chain_first_hops_again_once_the_window_has_passed()
    {
        var clock = new ManualClock();
        var responder = Responder(new ProxyDhcpSettings(AllBinaries, ChainFirst: true), clock);
        BootFile(responder, Discover(0, IpxeUserClass));

        clock.Now += TimeSpan.FromMinutes(11);

        Assert.Equal("undionly.kpxe", BootFile(responder, Discover(0, IpxeUserClass) with { TransactionId = 0x5678 }));
    }

    [Fact]
    public void Chain_first_treats_each_mac_on_its_own()
    {
        var responder = Responder(new ProxyDhcpSettings(AllBinaries, ChainFirst: true));
        BootFile(responder, Discover(7, IpxeUserClass));

        var other = Discover(7, IpxeUserClass) with { TransactionId = 0x5678, ClientHardwareAddress = [0x52, 0x54, 0, 0, 0, 1] };

        Assert.Equal("ipxe.efi", BootFile(responder, other));
    }

    [Fact]
    public void Chain_first_gives_an_ipxe_client_without_a_binary_for_its_architecture_boot_ipxe() =>
        Assert.Equal("http://192.0.2.1:8080/boot.ipxe",
            BootFile(Responder(new ProxyDhcpSettings(AllBinaries, ChainFirst: true)), Discover(11, IpxeUserClass)));

    [Fact]
    public void Chain_first_memory_stays_bounded_under_a_flood_of_macs()
    {
        var responder = Responder(new ProxyDhcpSettings(AllBinaries, ChainFirst: true) { MaxTrackedClients = 50 });

        for (var i = 0; i < 1000; i++)
            BootFile(responder, Discover(0, IpxeUserClass) with { ClientHardwareAddress = [2, 0, 0, 0, (byte)(i >> 8), (byte)i] });

        Assert.Equal(50, responder.TrackedClients);
    }

    [Fact]
    public void Random_and_mutated_requests_never_throw_and_never_offer_an_address()
    {
        var random = new Random(4578);
        var responder = Responder(new ProxyDhcpSettings(AllBinaries, ChainFirst: true) { MaxTrackedClients = 100 });
        byte[][] corpus =
        [
            Discover(0).ToBytes(),
            Discover(7, IpxeUserClass, new DhcpOption(DhcpOption.ClientUuid, [0, .. new byte[16]])).ToBytes(),
            Request(DhcpMessageType.Discover, 1, Vendor("HTTPClient:Arch:00016"), Arch(16)).ToBytes(),
            Request(DhcpMessageType.Request, 2, Vendor("PXEClient"), Arch(9), new DhcpOption(DhcpOption.IpxeEncapsulated, [1, 1, 1])).ToBytes(),
        ];
        int answered = 0;
        for (int i = 0; i < 30_000; i++)
        {
            byte[] input;
            if (i % 5 == 0)
            {
                input = new byte[random.Next(0, 1600)];
                random.NextBytes(input);
                if (input.Length > 240) corpus[0].AsSpan(236, 4).CopyTo(input.AsSpan(236));
            }
            else
            {
                var seed = corpus[random.Next(corpus.Length)];
                input = random.Next(4) == 0 ? seed[..random.Next(seed.Length)] : (byte[])seed.Clone();
                // Mutate options more than the header, where the decisions are made.
                for (int m = random.Next(1, 6); m > 0 && input.Length > 0; m--)
                {
                    var k = random.Next(3) == 0 || input.Length <= 240 ? random.Next(input.Length) : random.Next(240, input.Length);
                    input[k] = (byte)random.Next(256);
                }
            }
            var port = random.Next(2) == 0 ? ProxyDhcpPort.Dhcp : ProxyDhcpPort.BootServer;

            var answer = responder.Handle(input, port, Context);

            Assert.NotEmpty(answer.Reason);
            if (answer.Reply is not { } reply) continue;
            answered++;
            Assert.Equal(2, reply.Op);
            Assert.Equal(IPAddress.Any, reply.YourAddress);
            Assert.True(reply.ToBytes().Length <= DhcpPacket.MaxPacketSize);
        }
        Assert.True(answered > 1000, $"only {answered} requests answered: the mutations never reach the decisions");
    }
}
