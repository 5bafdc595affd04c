using System.Net;
using System.Net.Sockets;
using System.Text;
using Provisioner.Inventory;
using Provisioner.Tests.Cluster;
using Provisioner.Tests.Fcos;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Boot;

/// <summary>
/// The installed system's report: an install-mode config carries <c>provisioner-installed.service</c> and the script
/// it runs; the script, run for real (bash, curl) as the unit runs it, reports stage <c>installed</c> to the server
/// and leaves its stamp — without a report key (servers that hand out none accept that) and with one, which it sends
/// as a bearer token. A live machine's config has neither.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class InstalledReportUnitTests : IDisposable
{
    private const string ScriptPath = "/usr/local/bin/provisioner-installed.sh";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly ProfileTree _tree = new();

    public InstalledReportUnitTests()
    {
        // Machines reach the server at the address they used: the rendered report URL is the test server's.
        _tree.Edit("cluster.yaml", "  provisionerUrl: http://192.0.2.1:8080\n", "");
    }

    public void Dispose() => _tree.Dispose();

    private string WriteScript(string served)
    {
        var script = Path.Combine(_tree.Root, "provisioner-installed.sh");
        File.WriteAllText(script, IgnitionFiles.Decode(served)[ScriptPath].Text);
        return script;
    }

    [Fact]
    public async Task An_install_mode_config_enables_the_oneshot_that_runs_the_report_script_after_the_network_is_up()
    {
        await using var server = await RunningServer.StartAsync(_tree);
        var served = await server.RealConfigAsync("mac=52-54-00-00-30-01", Ct);

        var unit = IgnitionFiles.Unit(served, "provisioner-installed.service");
        Assert.Contains("After=network-online.target\n", unit);
        Assert.Contains("Wants=network-online.target\n", unit);
        Assert.Contains("ConditionPathExists=!/var/lib/provisioner/installed.reported\n", unit);
        Assert.Contains("EnvironmentFile=-/etc/provisioner/provisioner.env\n", unit);
        Assert.Contains($"ExecStart={ScriptPath}\n", unit);
        Assert.Contains("WantedBy=multi-user.target", unit);
        var script = IgnitionFiles.Decode(served)[ScriptPath];
        Assert.Equal(0b111_101_101, script.Mode);
        Assert.Contains("booted from /dev/vda", script.Text);
        using var config = System.Text.Json.JsonDocument.Parse(served);
        Assert.True(config.RootElement.GetProperty("systemd").GetProperty("units").EnumerateArray()
            .Single(u => u.GetProperty("name").GetString() == "provisioner-installed.service").GetProperty("enabled").GetBoolean());
    }

    [Fact]
    public async Task The_rendered_report_script_passes_shellcheck()
    {
        var shellcheck = Requires.Program("shellcheck", "shellcheck");
        await using var server = await RunningServer.StartAsync(_tree);
        var script = WriteScript(await server.RealConfigAsync("mac=52-54-00-00-30-01", Ct));
        var (exit, output) = await Proc.RunAsync(shellcheck, [script], Ct);
        Assert.True(exit == 0, $"shellcheck found problems:\n{output}");
    }

    [Fact]
    public async Task A_live_machines_config_has_no_installed_report()
    {
        _tree.Edit("machines.yaml", "    installDisk: /dev/vda\n    labels:", "    labels:");
        await using var server = await RunningServer.StartAsync(_tree);
        var served = await server.RealConfigAsync("mac=52-54-00-00-30-01", Ct);
        Assert.DoesNotContain("provisioner-installed", served);
        Assert.False(IgnitionFiles.Decode(served).ContainsKey(ScriptPath));
    }

    [Fact]
    public async Task Without_the_report_key_the_server_refuses_the_report_and_the_script_fails_without_its_stamp()
    {
        Requires.Program("curl", "curl");
        await using var server = await RunningServer.StartAsync(_tree);
        var script = WriteScript(await server.RealConfigAsync("mac=52-54-00-00-30-01", Ct));
        var stamp = Path.Combine(_tree.Root, "var", "installed.reported");

        var (exit, output) = await Proc.RunAsync("bash", [script], Ct, new Dictionary<string, string>
        {
            ["PROVISIONER_REPORT_KEY_FILE"] = Path.Combine(_tree.Root, "no-such-key"),
            ["PROVISIONER_INSTALLED_STAMP"] = stamp,
        });

        // The unit's Restart=on-failure tries again; nothing claims the report went through.
        Assert.True(exit != 0, output);
        Assert.False(File.Exists(stamp), output);
        Assert.NotEqual(MachinePhases.Installed, (await server.MachineAsync("worker-0", Ct)).GetProperty("phase").GetString());
    }

    [Fact]
    public async Task With_its_own_report_key_the_script_reports_installed_and_leaves_its_stamp()
    {
        Requires.Program("curl", "curl");
        await using var server = await RunningServer.StartAsync(_tree);
        var config = await server.RealConfigAsync("mac=52-54-00-00-30-01", Ct);
        var script = WriteScript(config);
        var key = Path.Combine(_tree.Root, "report-key");
        await File.WriteAllTextAsync(key, SecureIgnition.ReportKeyIn(config) + "\n", Ct);
        var stamp = Path.Combine(_tree.Root, "var", "installed.reported");

        var (exit, output) = await Proc.RunAsync("bash", [script], Ct, new Dictionary<string, string>
        {
            ["PROVISIONER_REPORT_KEY_FILE"] = key,
            ["PROVISIONER_INSTALLED_STAMP"] = stamp,
        });

        Assert.True(exit == 0, output);
        Assert.True(File.Exists(stamp), output);
        var machine = await server.MachineAsync("worker-0", Ct);
        Assert.Equal(MachinePhases.Installed, machine.GetProperty("phase").GetString());
        var history = machine.GetProperty("history");
        var last = history[history.GetArrayLength() - 1];
        Assert.Equal("installed", last.GetProperty("stage").GetString());
        Assert.StartsWith("booted from /dev/vda, kernel ", last.GetProperty("detail").GetString());
    }

    [Fact]
    public async Task With_a_report_key_and_the_env_file_the_script_reports_to_that_url_with_the_key_as_bearer_token()
    {
        Requires.Program("curl", "curl");
        await using var server = await RunningServer.StartAsync(_tree);
        var script = WriteScript(await server.RealConfigAsync("mac=52-54-00-00-30-01", Ct));
        var key = Path.Combine(_tree.Root, "report-key");
        await File.WriteAllTextAsync(key, "k3y-0f-w0rker-0\n", Ct);

        // Stands in for a server that checks report keys: it records the request and answers 204.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var received = ReceiveOneRequestAsync(listener);

        var (exit, output) = await Proc.RunAsync("bash", [script], Ct, new Dictionary<string, string>
        {
            // What the unit's EnvironmentFile (/etc/provisioner/provisioner.env) sets.
            ["PROVISIONER_URL"] = $"http://127.0.0.1:{port}",
            ["PROVISIONER_MACHINE"] = "worker-0",
            ["PROVISIONER_REPORT_KEY_FILE"] = key,
            ["PROVISIONER_INSTALLED_STAMP"] = Path.Combine(_tree.Root, "stamp"),
        });

        Assert.True(exit == 0, output);
        var request = await received.WaitAsync(TimeSpan.FromSeconds(30), Ct);
        Assert.StartsWith("POST /api/v1/progress HTTP/1.1\r\n", request);
        Assert.Contains("\r\nAuthorization: Bearer k3y-0f-w0rker-0\r\n", request);
        Assert.Contains("\"machine\":\"worker-0\",\"stage\":\"installed\"", request);
    }

    private static async Task<string> ReceiveOneRequestAsync(TcpListener listener)
    {
        using var client = await listener.AcceptTcpClientAsync(Ct);
        var stream = client.GetStream();
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (true)
        {
            var n = await stream.ReadAsync(buffer, Ct);
            if (n == 0) break;
            text.Append(Encoding.ASCII.GetString(buffer, 0, n));
            var all = text.ToString();
            var end = all.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            if (end < 0) continue;
            var length = System.Text.RegularExpressions.Regex.Match(all, @"(?i)\r\nContent-Length: (\d+)") is { Success: true } m ? int.Parse(m.Groups[1].Value) : 0;
            if (all.Length >= end + 4 + length) break;
        }
        await stream.WriteAsync("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n"u8.ToArray(), Ct);
        return text.ToString();
    }
}
