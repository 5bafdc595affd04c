using Provisioner.Pxe.Tftp;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Pxe.Tftp;

/// <summary>The server, fetched from by Debian's own TFTP clients: tftp-hpa and atftp.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class RealClientTests : IDisposable
{
    private readonly string _downloads = Directory.CreateTempSubdirectory("tftp-out-").FullName;

    public void Dispose() => Directory.Delete(_downloads, recursive: true);

    private string Out(string name) => Path.Combine(_downloads, name);

    private static Task<ProcessResult> TftpHpa(int port, params string[] command) =>
        ExternalClient.RunAsync(Requires.Program("tftp", "tftp-hpa"),
            ["-m", "binary", "127.0.0.1", port.ToString(), "-c", .. command]);

    private static Task<ProcessResult> Atftp(int port, string remote, string local, params string[] options) =>
        ExternalClient.RunAsync(Requires.Program("atftp", "atftp"),
            [.. options.SelectMany(o => new[] { "--option", o }), "-g", "-r", remote, "-l", local, "127.0.0.1", port.ToString()]);

    [Fact]
    public async Task Tftp_hpa_fetches_a_file_byte_for_byte()
    {
        await using var server = await TftpTestServer.StartAsync();
        var content = server.AddFile("boot/kernel.bin", 100_000);

        var result = await TftpHpa(server.Port, "get", "/boot/kernel.bin", Out("kernel.bin"));

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(content, await File.ReadAllBytesAsync(Out("kernel.bin"), TestContext.Current.CancellationToken));
    }

    [Theory]
    [InlineData("undionly.kpxe")]
    [InlineData("ipxe.efi")] // a symlink to /boot/ipxe.efi in Debian: served because the operator published it
    [InlineData("snponly.efi")]
    public async Task Atftp_fetches_the_installed_ipxe_binaries_with_negotiated_options(string name)
    {
        var ipxe = IpxeBinaries.Find();
        Requires.Condition(ipxe.ContainsKey(name), $"{name} is not installed (apt-get install ipxe)");
        await using var server = await TftpTestServer.StartAsync(o => o with { Files = ipxe });

        var result = await Atftp(server.Port, name, Out(name), "blksize 1428", "tsize 0", "windowsize 16");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(await File.ReadAllBytesAsync(ipxe[name], TestContext.Current.CancellationToken),
            await File.ReadAllBytesAsync(Out(name), TestContext.Current.CancellationToken));
        await server.WaitForIdleAsync();
        Assert.Contains(server.Log.Lines, l => l.Contains(name) && l.Contains("complete") && l.Contains("blksize 1428"));
    }

    [Fact]
    public async Task Block_numbers_roll_over_past_65535_without_corrupting_the_file()
    {
        await using var server = await TftpTestServer.StartAsync();
        var content = server.AddFile("big.bin", 600 * 1024 + 3); // 76 801 blocks of 8 bytes

        var result = await Atftp(server.Port, "big.bin", Out("big.bin"), "blksize 8");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(content, await File.ReadAllBytesAsync(Out("big.bin"), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Block_numbers_roll_over_inside_a_window()
    {
        await using var server = await TftpTestServer.StartAsync();
        var content = server.AddFile("big.bin", 65_540 * 8, seed: 7);

        var result = await Atftp(server.Port, "big.bin", Out("big.bin"), "blksize 8", "windowsize 7");

        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(content, await File.ReadAllBytesAsync(Out("big.bin"), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Missing_file_is_reported_as_error_1()
    {
        await using var server = await TftpTestServer.StartAsync();

        var result = await TftpHpa(server.Port, "get", "nope.bin", Out("nope.bin"));

        Assert.Contains("Error code 1", result.Output);
    }

    [Fact]
    public async Task Upload_is_refused_with_access_violation()
    {
        await using var server = await TftpTestServer.StartAsync();
        var local = Out("upload.bin");
        await File.WriteAllTextAsync(local, "payload", TestContext.Current.CancellationToken);

        var result = await TftpHpa(server.Port, "put", local, "upload.bin");

        Assert.Contains("Error code 2", result.Output);
        Assert.False(File.Exists(Path.Combine(server.Root, "upload.bin")));
    }

    [Fact]
    public async Task Path_traversal_is_refused_and_nothing_outside_the_root_is_sent()
    {
        await using var server = await TftpTestServer.StartAsync();

        var result = await TftpHpa(server.Port, "get", "../../../../etc/passwd", Out("passwd"));

        Assert.Contains("Error code 2", result.Output);
        Assert.True(!File.Exists(Out("passwd")) || new FileInfo(Out("passwd")).Length == 0);
    }

    [Fact]
    public async Task Netascii_is_refused_with_a_clear_message()
    {
        await using var server = await TftpTestServer.StartAsync();
        server.AddFile("text.txt", 100);

        var result = await ExternalClient.RunAsync(Requires.Program("tftp", "tftp-hpa"),
            "-m", "netascii", "127.0.0.1", server.Port.ToString(), "-c", "get", "text.txt", Out("text.txt"));

        Assert.Contains("Error code 4", result.Output);
        Assert.Contains("use octet", result.Output);
    }
}
