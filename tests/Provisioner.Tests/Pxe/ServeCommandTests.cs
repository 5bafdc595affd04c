using Provisioner.Cli;
using Provisioner.Pxe.Tftp;
using Provisioner.Tests.Pxe.Tftp;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Pxe;

/// <summary><c>provisioner serve</c> with the PXE flags, run through the real command line.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class ServeCommandTests : IDisposable
{
    private readonly ProfileTree _tree = new();
    private readonly string _downloads = Directory.CreateTempSubdirectory("pxe-serve-").FullName;

    public void Dispose()
    {
        _tree.Dispose();
        Directory.Delete(_downloads, recursive: true);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private async Task<(int Exit, string Err)> RunToCompletionAsync(Dictionary<string, string>? env, params string[] args)
    {
        var stderr = new StringWriter();
        var exit = await CommandLine.InvokeAsync(["serve", "--profiles", _tree.Profiles, "--assets", _tree.Assets, "--no-approver", .. args],
            new StringWriter(), stderr, name => env?.GetValueOrDefault(name), Ct);
        return (exit, stderr.ToString());
    }

    /// <summary>Starts serve in the background and waits until HTTP answers; cancel the token to stop it.</summary>
    private async Task<(Task<int> Run, HttpClient Http, CancellationTokenSource Stop)> StartServeAsync(Dictionary<string, string>? env, params string[] args)
    {
        var httpPort = FreePort.Tcp();
        var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var stderr = new StringWriter();
        var run = CommandLine.InvokeAsync(["serve", "--profiles", _tree.Profiles, "--assets", _tree.Assets, "--no-approver", "--listen", $"127.0.0.1:{httpPort}", .. args],
            TextWriter.Null, stderr, name => env?.GetValueOrDefault(name), stop.Token);
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromSeconds(10) };
        await Eventually.That(async () =>
        {
            if (run.IsCompleted) Assert.Fail($"serve exited with {await run}: {stderr}");
            try
            {
                await http.GetStringAsync("/healthz", Ct);
                return true;
            }
            catch (HttpRequestException) { return false; }
        }, "serve to answer /healthz", TimeSpan.FromSeconds(10));
        return (run, http, stop);
    }

    [Fact]
    public async Task Serve_with_tftp_serves_undionly_kpxe_to_tftp_hpa()
    {
        var tftpHpa = Requires.Program("tftp", "tftp-hpa");
        var ipxe = IpxeBinaries.Find();
        Requires.Condition(ipxe.ContainsKey("undionly.kpxe"), "undionly.kpxe is not installed (apt-get install ipxe)");
        var port = FreePort.Udp();
        var (run, http, stop) = await StartServeAsync(null, "--tftp", $"127.0.0.1:{port}");
        using (http)
        using (stop)
        {
            var local = Path.Combine(_downloads, "undionly.kpxe");
            var result = await ExternalClient.RunAsync(tftpHpa, "-m", "binary", "127.0.0.1", port.ToString(), "-c", "get", "undionly.kpxe", local);

            Assert.True(result.ExitCode == 0, result.ToString());
            Assert.Equal(await File.ReadAllBytesAsync(ipxe["undionly.kpxe"], Ct), await File.ReadAllBytesAsync(local, Ct));
            await stop.CancelAsync();
            Assert.Equal(0, await run);
        }
    }

    [Fact]
    public async Task The_tftp_address_can_come_from_the_environment()
    {
        var tftpHpa = Requires.Program("tftp", "tftp-hpa");
        Requires.Condition(IpxeBinaries.Find().ContainsKey("undionly.kpxe"), "undionly.kpxe is not installed (apt-get install ipxe)");
        var port = FreePort.Udp();
        var (run, http, stop) = await StartServeAsync(new() { ["PROVISIONER_TFTP"] = $"127.0.0.1:{port}" });
        using (http)
        using (stop)
        {
            var local = Path.Combine(_downloads, "undionly.kpxe");
            var result = await ExternalClient.RunAsync(tftpHpa, "-m", "binary", "127.0.0.1", port.ToString(), "-c", "get", "undionly.kpxe", local);

            Assert.True(result.ExitCode == 0, result.ToString());
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task Serve_with_pxe_on_serves_ipxe_efi_over_http_for_uefi_http_boot()
    {
        var ipxe = IpxeBinaries.Find();
        Requires.Condition(ipxe.ContainsKey("ipxe.efi"), "ipxe.efi is not installed (apt-get install ipxe)");
        var (run, http, stop) = await StartServeAsync(null, "--tftp", $"127.0.0.1:{FreePort.Udp()}");
        using (http)
        using (stop)
        {
            var served = await http.GetByteArrayAsync("/pxe/ipxe.efi", Ct);
            using var missing = await http.GetAsync("/pxe/grub.efi", Ct);

            Assert.Equal(await File.ReadAllBytesAsync(ipxe["ipxe.efi"], Ct), served);
            Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);
            Assert.Contains("no iPXE binary 'grub.efi'", await missing.Content.ReadAsStringAsync(Ct));
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task Without_pxe_flags_there_is_no_pxe_endpoint()
    {
        var (run, http, stop) = await StartServeAsync(null);
        using (http)
        using (stop)
        {
            using var response = await http.GetAsync("/pxe/ipxe.efi", Ct);
            Assert.Equal(System.Net.HttpStatusCode.NotFound, response.StatusCode);
            await stop.CancelAsync();
            await run;
        }
    }

    [Fact]
    public async Task An_unknown_interface_is_one_error_line_listing_the_interfaces()
    {
        var (exit, err) = await RunToCompletionAsync(null, "--tftp", "127.0.0.1:0", "--proxy-dhcp", "nosuch0");

        Assert.Equal(1, exit);
        Assert.Matches(@"^error: --proxy-dhcp: no network interface 'nosuch0' \(interfaces: .*\blo\b.*\)\n$", err);
    }

    [Fact]
    public async Task A_directory_without_ipxe_binaries_names_the_debian_package()
    {
        var (exit, err) = await RunToCompletionAsync(null, "--tftp", "127.0.0.1:0", "--ipxe-dir", _downloads);

        Assert.Equal(1, exit);
        Assert.Contains($"--ipxe-dir: no iPXE binaries (undionly.kpxe, ipxe.efi, snponly.efi) in '{_downloads}'; install Debian's 'ipxe' package", err);
        Assert.Single(err.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public async Task A_tftp_port_in_use_is_one_error_line_naming_the_flag()
    {
        Requires.Condition(IpxeBinaries.Find().Count > 0, "the iPXE binaries are not installed (apt-get install ipxe)");
        using var taken = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Dgram, System.Net.Sockets.ProtocolType.Udp);
        taken.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, 0));
        var port = ((System.Net.IPEndPoint)taken.LocalEndPoint!).Port;

        var (exit, err) = await RunToCompletionAsync(null, "--listen", $"127.0.0.1:{FreePort.Tcp()}", "--tftp", $"127.0.0.1:{port}");

        Assert.Equal(1, exit);
        Assert.Equal($"error: --tftp: cannot listen on 127.0.0.1:{port}: Address already in use (another TFTP server is running?)\n", err);
    }

    [Fact]
    public async Task Tftp_on_an_address_the_proxy_dhcp_interface_does_not_have_is_refused()
    {
        var (exit, err) = await RunToCompletionAsync(null, "--tftp", "127.0.0.2", "--proxy-dhcp", "lo");

        Assert.Equal(1, exit);
        Assert.Equal("error: --tftp: PXE clients on 'lo' are sent to 127.0.0.1, but TFTP listens on 127.0.0.2; use --tftp 0.0.0.0 or --tftp 127.0.0.1\n", err);
    }

    [Fact]
    public async Task The_tftp_root_is_served_beside_the_ipxe_binaries()
    {
        var tftpHpa = Requires.Program("tftp", "tftp-hpa");
        var root = Directory.CreateTempSubdirectory("pxe-tftp-root-").FullName;
        try
        {
            var content = new byte[70_000];
            new Random(7).NextBytes(content);
            Directory.CreateDirectory(Path.Combine(root, "pxelinux.cfg"));
            await File.WriteAllBytesAsync(Path.Combine(root, "pxelinux.cfg", "default"), content, Ct);
            var port = FreePort.Udp();
            var (run, http, stop) = await StartServeAsync(null, "--tftp", $"127.0.0.1:{port}", "--tftp-root", root);
            using (http)
            using (stop)
            {
                var local = Path.Combine(_downloads, "default");
                var result = await ExternalClient.RunAsync(tftpHpa, "-m", "binary", "127.0.0.1", port.ToString(), "-c", "get", "pxelinux.cfg/default", local);

                Assert.True(result.ExitCode == 0, result.ToString());
                Assert.Equal(content, await File.ReadAllBytesAsync(local, Ct));
                await stop.CancelAsync();
                await run;
            }
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task A_missing_tftp_root_is_refused()
    {
        var (exit, err) = await RunToCompletionAsync(null, "--tftp", "127.0.0.1:0", "--tftp-root", "/nonexistent/tftp");

        Assert.Equal(1, exit);
        Assert.Equal("error: --tftp-root: '/nonexistent/tftp' does not exist\n", err);
    }

    [Fact]
    public async Task Proxy_dhcp_without_tftp_is_refused()
    {
        var (exit, err) = await RunToCompletionAsync(null, "--proxy-dhcp", "lo");

        Assert.Equal(1, exit);
        Assert.Contains("--proxy-dhcp sends PXE firmware to TFTP for iPXE: also give --tftp", err);
    }

    [Fact]
    public async Task A_malformed_tftp_address_is_refused()
    {
        var (exit, err) = await RunToCompletionAsync(null, "--tftp", "localhost:69");

        Assert.Equal(1, exit);
        Assert.Equal("error: --tftp: 'localhost' in 'localhost:69' is not an IP address (e.g. 0.0.0.0, 192.0.2.1:69)\n", err);
    }
}
