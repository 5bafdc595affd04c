using Provisioner.Tests.Support;

namespace Provisioner.Tests.Pxe.Tftp;

/// <summary>Protocol behaviour observed packet by packet with a client that misbehaves on purpose.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class ProtocolTests
{
    private static readonly TimeSpan Quiet = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task Without_options_the_first_reply_is_data_block_1_from_a_new_transfer_id()
    {
        await using var server = await TftpTestServer.StartAsync();
        var content = server.AddFile("a.bin", 700);
        using var client = new RawTftpClient();

        await client.SendAsync(RawTftpClient.ReadRequest("a.bin", "OcTeT"), server.EndPoint);
        var first = await client.ExpectAsync();

        Assert.True(first.IsData, first.Describe());
        Assert.Equal(1, first.Block);
        Assert.Equal(content[..512], first.Data.ToArray());
        Assert.NotEqual(server.Port, first.From.Port);
    }

    [Fact]
    public async Task Options_are_acknowledged_clamped_and_unknown_ones_ignored()
    {
        await using var server = await TftpTestServer.StartAsync();
        server.AddFile("a.bin", 1234);
        using var client = new RawTftpClient();

        await client.SendAsync(RawTftpClient.ReadRequest("a.bin", "octet",
            ("BLKSIZE", "70000"), ("tsize", "0"), ("timeout", "3"), ("windowsize", "4"), ("x-frobnicate", "1")), server.EndPoint);
        var oack = await client.ExpectAsync();

        Assert.True(oack.IsOptionAck, oack.Describe());
        Assert.Equal(new Dictionary<string, string>
        {
            ["blksize"] = "65464", ["tsize"] = "1234", ["timeout"] = "3", ["windowsize"] = "4",
        }, oack.Options);
    }

    [Fact]
    public async Task A_blksize_below_8_is_not_accepted_and_the_default_512_is_used()
    {
        await using var server = await TftpTestServer.StartAsync();
        server.AddFile("a.bin", 1000);
        using var client = new RawTftpClient();

        await client.SendAsync(RawTftpClient.ReadRequest("a.bin", "octet", ("blksize", "4")), server.EndPoint);
        var first = await client.ExpectAsync();

        Assert.True(first.IsData, first.Describe());
        Assert.Equal(512, first.Data.Length);
    }

    [Theory]
    [InlineData("../../etc/passwd")]
    [InlineData("/../etc/passwd")]
    [InlineData("sub/../../etc/passwd")]
    [InlineData(@"..\..\etc\passwd")]
    [InlineData("sub\\..\\..\\etc/passwd")]
    [InlineData("escape/passwd")] // escape -> /etc via a symlink inside the root
    [InlineData("passwd-link")]   // passwd-link -> /etc/passwd
    public async Task Names_that_leave_the_root_get_access_violation(string name)
    {
        await using var server = await TftpTestServer.StartAsync();
        Directory.CreateDirectory(Path.Combine(server.Root, "sub"));
        File.CreateSymbolicLink(Path.Combine(server.Root, "passwd-link"), "/etc/passwd");
        Directory.CreateSymbolicLink(Path.Combine(server.Root, "escape"), "/etc");
        using var client = new RawTftpClient();

        await client.SendAsync(RawTftpClient.ReadRequest(name), server.EndPoint);
        var reply = await client.ExpectAsync();

        Assert.True(reply.IsError, reply.Describe());
        Assert.Equal(2, reply.ErrorCode);
    }

    [Fact]
    public async Task A_symlink_that_stays_inside_the_root_is_served()
    {
        await using var server = await TftpTestServer.StartAsync();
        var content = server.AddFile("real/file.bin", 10);
        File.CreateSymbolicLink(Path.Combine(server.Root, "alias.bin"), "real/file.bin");
        using var client = new RawTftpClient();

        await client.SendAsync(RawTftpClient.ReadRequest("/alias.bin"), server.EndPoint);
        var reply = await client.ExpectAsync();

        Assert.True(reply.IsData, reply.Describe());
        Assert.Equal(content, reply.Data.ToArray());
    }

    [Fact]
    public async Task Missing_file_gets_error_1_and_write_request_gets_error_2()
    {
        await using var server = await TftpTestServer.StartAsync();
        using var client = new RawTftpClient();

        await client.SendAsync(RawTftpClient.ReadRequest("missing.bin"), server.EndPoint);
        var missing = await client.ExpectAsync();
        await client.SendAsync(RawTftpClient.WriteRequest("new.bin"), server.EndPoint);
        var write = await client.ExpectAsync();

        Assert.Equal(1, missing.ErrorCode);
        Assert.Equal(2, write.ErrorCode);
    }

    [Fact]
    public async Task Duplicate_acks_never_trigger_a_resend_but_a_lost_ack_does_after_the_timeout()
    {
        var timeout = TimeSpan.FromMilliseconds(600);
        await using var server = await TftpTestServer.StartAsync(o => o with { Timeout = timeout });
        var content = server.AddFile("a.bin", 512 * 6 + 100);
        using var client = new RawTftpClient();
        var received = new List<byte>();
        var blocksSeen = new List<ushort>();

        await client.SendAsync(RawTftpClient.ReadRequest("a.bin"), server.EndPoint);
        var data = await client.ExpectAsync();
        var tid = data.From;
        blocksSeen.Add(data.Block);
        received.AddRange(data.Data.ToArray());

        // Block 1 acknowledged three times: exactly one block 2 may come back.
        for (int i = 0; i < 3; i++) await client.SendAsync(RawTftpClient.Ack(1), tid);
        data = await client.ExpectAsync();
        var block2SentAt = DateTime.UtcNow;
        Assert.Equal(2, data.Block);
        Assert.Null(await client.ReceiveAsync(Quiet));
        blocksSeen.Add(data.Block);
        received.AddRange(data.Data.ToArray());

        // The ACK of block 2 is "lost": the server must retransmit block 2 on its own, after the timeout.
        data = await client.ExpectAsync(timeout * 3);
        Assert.Equal(2, data.Block);
        Assert.True(DateTime.UtcNow - block2SentAt >= timeout * 0.9, "retransmitted before the timeout");

        // A stale ACK (block 1) is ignored too.
        await client.SendAsync(RawTftpClient.Ack(1), tid);
        Assert.Null(await client.ReceiveAsync(Quiet));

        // Then finish normally, acknowledging each block twice.
        ushort block = 2;
        while (true)
        {
            await client.SendAsync(RawTftpClient.Ack(block), tid);
            await client.SendAsync(RawTftpClient.Ack(block), tid);
            data = await client.ExpectAsync();
            Assert.Equal((ushort)(block + 1), data.Block);
            blocksSeen.Add(data.Block);
            received.AddRange(data.Data.ToArray());
            block = data.Block;
            if (data.Data.Length < 512) break;
        }
        await client.SendAsync(RawTftpClient.Ack(block), tid);

        Assert.Equal(content, received.ToArray());
        Assert.Equal([1, 2, 3, 4, 5, 6, 7], blocksSeen);
        Assert.Null(await client.ReceiveAsync(Quiet)); // nothing more after the last duplicate ACKs
    }

    [Fact]
    public async Task An_ack_inside_a_window_resumes_the_next_window_after_the_acknowledged_block()
    {
        await using var server = await TftpTestServer.StartAsync();
        server.AddFile("a.bin", 64 * 20);
        using var client = new RawTftpClient();

        await client.SendAsync(RawTftpClient.ReadRequest("a.bin", "octet", ("blksize", "64"), ("windowsize", "4")), server.EndPoint);
        var oack = await client.ExpectAsync();
        await client.SendAsync(RawTftpClient.Ack(0), oack.From);
        var firstWindow = new List<ushort>();
        for (int i = 0; i < 4; i++) firstWindow.Add((await client.ExpectAsync()).Block);
        await client.SendAsync(RawTftpClient.Ack(2), oack.From); // "block 3 never arrived"
        var secondWindow = new List<ushort>();
        for (int i = 0; i < 4; i++) secondWindow.Add((await client.ExpectAsync()).Block);

        Assert.Equal([1, 2, 3, 4], firstWindow);
        Assert.Equal([3, 4, 5, 6], secondWindow);
    }

    [Fact]
    public async Task Packets_from_a_stranger_get_unknown_transfer_id_and_do_not_disturb_the_transfer()
    {
        await using var server = await TftpTestServer.StartAsync();
        var content = server.AddFile("a.bin", 100);
        using var client = new RawTftpClient();
        using var stranger = new RawTftpClient();

        await client.SendAsync(RawTftpClient.ReadRequest("a.bin"), server.EndPoint);
        var data = await client.ExpectAsync();
        await stranger.SendAsync(RawTftpClient.Ack(1), data.From);
        var rebuff = await stranger.ExpectAsync();
        await client.SendAsync(RawTftpClient.Ack(1), data.From);
        await server.WaitForIdleAsync();

        Assert.Equal(5, rebuff.ErrorCode);
        Assert.Equal(content, data.Data.ToArray());
        Assert.Contains(server.Log.Lines, l => l.Contains("a.bin: complete"));
    }

    [Fact]
    public async Task Requests_beyond_the_session_limit_are_told_the_server_is_busy()
    {
        await using var server = await TftpTestServer.StartAsync(o => o with { MaxSessions = 1 });
        server.AddFile("a.bin", 5000);
        using var first = new RawTftpClient();
        using var second = new RawTftpClient();

        await first.SendAsync(RawTftpClient.ReadRequest("a.bin"), server.EndPoint);
        Assert.True((await first.ExpectAsync()).IsData);
        await second.SendAsync(RawTftpClient.ReadRequest("a.bin"), server.EndPoint);
        var busy = await second.ExpectAsync();

        Assert.True(busy.IsError, busy.Describe());
        Assert.Contains("busy", busy.ErrorMessage);
    }

    [Fact]
    public async Task A_vanished_client_frees_its_slot_after_the_bounded_retransmissions()
    {
        await using var server = await TftpTestServer.StartAsync(o => o with
        {
            MaxSessions = 1, Timeout = TimeSpan.FromMilliseconds(200), MaxRetries = 2,
        });
        var content = server.AddFile("a.bin", 5000);
        using (var vanishing = new RawTftpClient())
        {
            await vanishing.SendAsync(RawTftpClient.ReadRequest("a.bin"), server.EndPoint);
            Assert.True((await vanishing.ExpectAsync()).IsData);
        }

        await server.WaitForIdleAsync(TimeSpan.FromSeconds(3));
        using var next = new RawTftpClient();
        await next.SendAsync(RawTftpClient.ReadRequest("a.bin"), server.EndPoint);
        var reply = await next.ExpectAsync();

        Assert.Contains(server.Log.Lines, l => l.Contains("timed out after 2 retransmissions"));
        Assert.True(reply.IsData, reply.Describe());
        Assert.Equal(content[..512], reply.Data.ToArray());
    }

    [Fact]
    public async Task A_stalled_client_does_not_hold_up_another_clients_transfer()
    {
        await using var server = await TftpTestServer.StartAsync(o => o with { Timeout = TimeSpan.FromSeconds(5) });
        var content = server.AddFile("a.bin", 300_000);
        using var stalled = new RawTftpClient();
        await stalled.SendAsync(RawTftpClient.ReadRequest("a.bin"), server.EndPoint);
        Assert.True((await stalled.ExpectAsync()).IsData); // ... and never acknowledges

        var output = Path.Combine(server.Root, "copy.bin");
        var result = await ExternalClient.RunAsync(Requires.Program("atftp", "atftp"),
            "--option", "blksize 1428", "-g", "-r", "a.bin", "-l", output, "127.0.0.1", server.Port.ToString());

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(content, await File.ReadAllBytesAsync(output, TestContext.Current.CancellationToken));
        Assert.Equal(1, server.ActiveSessions); // the stalled one is still waiting for its ACK
    }
}
