using System.Net;
using System.Text;
using Provisioner.Pxe.Dhcp;

namespace Provisioner.Tests.Pxe.Dhcp;

public sealed class DhcpPacketTests
{
    /// <summary>A PXE DISCOVER as UEFI x64 firmware sends it, then chained into iPXE.</summary>
    private static DhcpPacket PxeDiscover() => new()
    {
        TransactionId = 0xDEADBEEF,
        Flags = 0x8000,
        ClientHardwareAddress = [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
        Options =
        [
            new(DhcpOption.MessageType, [(byte)DhcpMessageType.Discover]),
            DhcpOption.FromString(DhcpOption.VendorClass, "PXEClient:Arch:00007:UNDI:003016"),
            new(DhcpOption.ClientArchitecture, [0, 7]),
            new(DhcpOption.ClientUuid, [0, .. Enumerable.Range(1, 16).Select(i => (byte)i)]),
            DhcpOption.FromString(DhcpOption.UserClass, "iPXE"),
            new(DhcpOption.IpxeEncapsulated, [177, 5, 1, 2, 3, 4, 5, 0x13, 1, 1]),
            DhcpOption.FromAddress(DhcpOption.ServerIdentifier, IPAddress.Parse("192.0.2.1")),
        ],
    };

    [Fact]
    public void A_serialised_pxe_discover_parses_back_with_every_field()
    {
        var bytes = PxeDiscover().ToBytes();

        Assert.True(DhcpPacket.TryParse(bytes, out var p, out var error), error);
        Assert.Equal(0xDEADBEEFu, p.TransactionId);
        Assert.Equal(0x8000, p.Flags);
        Assert.Equal([0x52, 0x54, 0x00, 0x12, 0x34, 0x56], p.ClientHardwareAddress);
        Assert.Equal(DhcpMessageType.Discover, p.MessageType);
        Assert.Equal("PXEClient:Arch:00007:UNDI:003016", p.VendorClass);
        Assert.Equal([(ushort)7], p.ClientArchitectures);
        Assert.Equal(Enumerable.Range(1, 16).Select(i => (byte)i), p.ClientUuid!);
        Assert.Equal("iPXE", p.UserClass);
        Assert.Equal(IPAddress.Parse("192.0.2.1"), p.ServerIdentifier);
        Assert.Equal([177, 0x13], p.Encapsulated(DhcpOption.IpxeEncapsulated).Select(o => o.Code));
        Assert.True(bytes.Length >= 300);
    }

    [Fact]
    public void Options_overloaded_into_file_and_sname_are_read_and_those_fields_are_not_names()
    {
        var bytes = new DhcpPacket { Options = [new(DhcpOption.Overload, [3]), new(DhcpOption.MessageType, [1])] }.ToBytes();
        byte[] inFile = [DhcpOption.VendorClass, 9, .. "PXEClient"u8, DhcpOption.End];
        byte[] inSname = [DhcpOption.ClientArchitecture, 2, 0, 11, DhcpOption.End];
        inFile.CopyTo(bytes, 108);
        inSname.CopyTo(bytes, 44);

        Assert.True(DhcpPacket.TryParse(bytes, out var p, out var error), error);
        Assert.Equal("PXEClient", p.VendorClass);
        Assert.Equal([(ushort)11], p.ClientArchitectures);
        Assert.Equal("", p.BootFileName);
        Assert.Equal("", p.ServerName);
    }

    [Fact]
    public void Long_options_are_split_on_write_and_concatenated_on_read()
    {
        var longValue = new string('x', 600);
        var bytes = new DhcpPacket { Options = [DhcpOption.FromString(DhcpOption.VendorClass, longValue)] }.ToBytes();

        Assert.True(DhcpPacket.TryParse(bytes, out var p, out _));
        Assert.Equal(longValue, p.VendorClass);
    }

    [Fact]
    public void A_reply_carries_boot_file_and_server_name_in_the_header()
    {
        var reply = PxeDiscover() with { Op = 2, ServerAddress = IPAddress.Parse("192.0.2.1"), BootFileName = "ipxe.efi", ServerName = "prov" };

        Assert.True(DhcpPacket.TryParse(reply.ToBytes(), out var p, out _));
        Assert.Equal(2, p.Op);
        Assert.Equal("ipxe.efi", p.BootFileName);
        Assert.Equal("prov", p.ServerName);
        Assert.Equal(IPAddress.Parse("192.0.2.1"), p.ServerAddress);
    }

    [Theory]
    [InlineData(0, "shorter")]
    [InlineData(239, "shorter")]
    [InlineData(5000, "too large")]
    public void Wrong_sizes_are_refused(int size, string reason)
    {
        var bytes = new byte[size];
        if (size > 300) PxeDiscover().ToBytes().CopyTo(bytes, 0);

        Assert.False(DhcpPacket.TryParse(bytes, out _, out var error));
        Assert.Contains(reason, error);
    }

    [Fact]
    public void Truncated_options_and_missing_cookie_are_refused()
    {
        var bytes = PxeDiscover().ToBytes();
        var noCookie = (byte[])bytes.Clone();
        noCookie[236] = 0;
        var truncated = bytes[..(240 + 2)]; // message type option: code and length, value cut off

        Assert.False(DhcpPacket.TryParse(noCookie, out _, out var e1));
        Assert.False(DhcpPacket.TryParse(truncated, out _, out var e2));
        Assert.Contains("cookie", e1);
        Assert.Contains("past the end", e2);
    }

    [Fact]
    public void Random_and_mutated_packets_never_throw_and_stay_bounded()
    {
        var random = new Random(2131);
        var corpus = new[]
        {
            PxeDiscover().ToBytes(),
            (PxeDiscover() with { Options = [new(DhcpOption.Overload, [3]), new(DhcpOption.MessageType, [3])] }).ToBytes(),
            new DhcpPacket { Options = [DhcpOption.FromString(DhcpOption.VendorClass, new string('y', 700))] }.ToBytes(),
        };
        int parsed = 0;
        for (int i = 0; i < 50_000; i++)
        {
            byte[] input;
            if (i % 5 == 0)
            {
                input = new byte[random.Next(0, 1600)];
                random.NextBytes(input);
                if (input.Length > 240) corpus[0].AsSpan(236, 4).CopyTo(input.AsSpan(236)); // reach the option parser
            }
            else
            {
                var seed = corpus[random.Next(corpus.Length)];
                input = random.Next(4) == 0 ? seed[..random.Next(seed.Length)] : (byte[])seed.Clone();
                for (int m = random.Next(1, 8); m > 0 && input.Length > 0; m--)
                    input[random.Next(input.Length)] = (byte)random.Next(256);
            }

            if (!DhcpPacket.TryParse(input, out var p, out var error))
            {
                Assert.NotEmpty(error);
                continue;
            }
            parsed++;
            Assert.True(p.Options.Sum(o => o.Data.Length) <= input.Length);
            Assert.True(p.ClientHardwareAddress.Length <= 16);
            _ = (p.MessageType, p.VendorClass, p.UserClass, p.ClientUuid, p.ServerIdentifier, p.ClientArchitectures.Count,
                p.Encapsulated(DhcpOption.VendorSpecific).Count, p.Encapsulated(DhcpOption.IpxeEncapsulated).Count);
        }
        Assert.True(parsed > 10_000, $"only {parsed} inputs parsed: the mutations never reach the option parser");
    }
}
