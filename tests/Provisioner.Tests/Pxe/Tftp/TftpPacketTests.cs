using System.Text;
using Provisioner.Pxe.Tftp;

namespace Provisioner.Tests.Pxe.Tftp;

public sealed class TftpPacketTests
{
    private static byte[] Bytes(string s) => Encoding.Latin1.GetBytes(s);

    [Fact]
    public void A_read_request_yields_name_mode_and_lower_cased_options()
    {
        Assert.True(TftpPacket.TryParseRequest(Bytes("\0\u0001pxe/boot.0\0OCTET\0BlkSize\01428\0tsize\00\0"), out var r, out _));

        Assert.Equal("pxe/boot.0", r!.FileName);
        Assert.Equal("OCTET", r.Mode);
        Assert.Equal([new("blksize", "1428"), new("tsize", "0")], r.Options);
    }

    [Theory]
    [InlineData("\0\u0001")]                       // nothing after the opcode
    [InlineData("\0\u0001file")]                   // unterminated name
    [InlineData("\0\u0001file\0octet")]            // unterminated mode
    [InlineData("\0\u0001\0octet\0")]              // empty name
    [InlineData("\0\u0001fi\u0007le\0octet\0")]    // control character in the name
    [InlineData("\0\u0001file\0octet\0blksize\0")] // option without a value
    [InlineData("\0\u0003file\0octet\0")]          // DATA, not a request
    public void Malformed_requests_are_rejected_with_a_reason(string packet)
    {
        Assert.False(TftpPacket.TryParseRequest(Bytes(packet), out _, out var error));
        Assert.NotEmpty(error);
    }

    [Fact]
    public void Random_datagrams_never_throw_and_damaged_requests_carry_a_reason()
    {
        var random = new Random(1350);
        var rejected = 0;
        var valid = Bytes("\0\u0001file\0octet\0blksize\01428\0windowsize\016\0");
        for (int i = 0; i < 20_000; i++)
        {
            var packet = i % 2 == 0 ? new byte[random.Next(0, 600)] : (byte[])valid.Clone();
            if (i % 2 == 0) random.NextBytes(packet);
            else packet[random.Next(packet.Length)] = (byte)random.Next(256);
            if (packet.Length >= 2 && i % 4 == 0) packet[1] = 1;
            // Throwing fails the test; a refusal must come with a reason the log can show.
            if (!TftpPacket.TryParseRequest(packet, out var request, out var error))
            {
                Assert.Null(request);
                Assert.False(string.IsNullOrWhiteSpace(error), "a rejected request says why");
                rejected++;
            }
            TftpPacket.TryReadAck(packet, out _);
            TftpPacket.TryReadError(packet, out _, out _);
        }
        Assert.True(rejected > 0, "the random datagrams were all accepted: the test fed the parser nothing it should refuse");
    }

    [Fact]
    public void The_window_is_shrunk_so_one_window_stays_within_the_memory_cap()
    {
        var server = new TftpOptions(new(System.Net.IPAddress.Loopback, 0), []);

        var p = TftpNegotiation.Negotiate([new("windowsize", "65535"), new("blksize", "65464")], 0, server);

        Assert.Equal(65464, p.BlockSize);
        Assert.Equal(TftpNegotiation.MaxWindowBytes / 65464, p.WindowSize);
        Assert.Contains(new KeyValuePair<string, string>("windowsize", p.WindowSize.ToString()), p.Acknowledged);
    }

    [Fact]
    public void Ipxe_binaries_are_found_only_when_present()
    {
        var dir = Directory.CreateTempSubdirectory("ipxe-").FullName;
        try
        {
            File.WriteAllText(Path.Combine(dir, "snponly.efi"), "x");

            Assert.Equal(["snponly.efi"], IpxeBinaries.Find(dir).Keys);
        }
        finally { Directory.Delete(dir, true); }
    }
}
