using System.Net;
using System.Text;
using System.Text.Json;
using Provisioner.Inventory;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Boot;

/// <summary>
/// Install mode against the real server: a machine with <c>installDisk</c> boots the installer with
/// <c>coreos.inst.install_dev</c> and <c>coreos.inst.ignition_url</c>; the installer's fetch of its config makes it
/// <c>installing</c> and every PXE boot after that gets a script that boots its disk; the installed system's report
/// makes it <c>installed</c> (persisted: a restarted server still sends it to its disk); <c>machines reprovision</c>
/// makes the next PXE boot install again. The example profiles' machines all install to /dev/vda.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class InstallModeTests : IDisposable
{
    private const string WorkerQuery = "mac=52-54-00-00-30-01";
    private const string WorkerIpxe = "/ipxe?mac=52-54-00-00-30-01&uuid=&serial=&hostname=&arch=x86_64&platform=pcbios";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private static string KernelLine(string script) =>
        Assert.Single(script.Split('\n'), l => l.StartsWith("kernel ", StringComparison.Ordinal));

    private static async Task<string> PhaseAsync(RunningServer server, string machine) =>
        (await server.MachineAsync(machine, Ct)).GetProperty("phase").GetString()!;

    /// <summary>A progress report with <paramref name="reportKey"/> as its bearer token, as the machine's units send it.</summary>
    private static async Task<HttpResponseMessage> ReportAsync(RunningServer server, string machine, string stage, string reportKey)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/progress")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { machine, stage, detail = "test" }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", reportKey);
        return await server.Client.SendAsync(request, Ct);
    }

    /// <summary>
    /// What an install does, as the server sees it: the installer's PXE boot, its fetch of the pointer (plain HTTP), and
    /// the installed system's first boot following the pointer over TLS. Returns the machine's report key.
    /// </summary>
    private static async Task<string> InstallAsync(RunningServer server)
    {
        var config = await server.RealConfigFromScriptAsync(await server.Client.GetStringAsync(WorkerIpxe, Ct), Ct);
        return SecureIgnition.ReportKeyIn(config);
    }

    private static void AssertDiskBootScript(string script, string phase)
    {
        Assert.StartsWith("#!ipxe\n", script);
        Assert.Contains($"echo Provisioner: worker-0 is installed on /dev/vda ({phase}); booting from the local disk\n", script);
        Assert.Contains("iseq ${platform} efi && goto provisioner_efi ||\n", script);
        Assert.Contains("sanboot --no-describe --drive 0x80 || goto provisioner_no_disk\n", script);
        Assert.Contains(":provisioner_efi\n", script);
        Assert.Contains("\nexit\n", script);
        Assert.DoesNotContain("kernel ", script);
        Assert.DoesNotContain("initrd", script);
        Assert.DoesNotContain("/ignition", script);
    }

    [Fact]
    public async Task An_install_mode_machine_boots_the_installer_with_its_disk_and_its_config_url_and_no_live_config()
    {
        await using var server = await RunningServer.StartAsync(_tree);
        var kernel = KernelLine(await server.Client.GetStringAsync(WorkerIpxe, Ct));

        Assert.Contains(" coreos.inst.install_dev=/dev/vda ", kernel);
        Assert.Contains($" coreos.inst.ignition_url=http://192.0.2.1:8080/ignition?{WorkerQuery}&ticket=", kernel);
        Assert.DoesNotContain("ignition.config.url=", kernel);
        Assert.Contains(" ignition.firstboot ", kernel);
        Assert.Contains(" ignition.platform.id=metal ", kernel);
        Assert.Single(kernel.Split(' '), a => a.StartsWith("coreos.inst.install_dev=", StringComparison.Ordinal));
        var machine = await server.MachineAsync("worker-0", Ct);
        Assert.Equal(MachinePhases.Ready, machine.GetProperty("phase").GetString());
        Assert.Equal("/dev/vda", machine.GetProperty("installDisk").GetString());
        Assert.Equal("matched by mac; install to /dev/vda", machine.GetProperty("history")[0].GetProperty("detail").GetString());
    }

    [Fact]
    public async Task The_installers_fetch_makes_the_machine_installing_and_its_next_PXE_boot_boots_its_disk()
    {
        await using var server = await RunningServer.StartAsync(_tree);
        KernelLine(await server.Client.GetStringAsync(WorkerIpxe, Ct));
        (await server.Client.GetAsync("/ignition?" + WorkerQuery, Ct)).EnsureSuccessStatusCode();

        var machine = await server.MachineAsync("worker-0", Ct);
        Assert.Equal(MachinePhases.Installing, machine.GetProperty("phase").GetString());
        Assert.True(machine.GetProperty("install").TryGetProperty("installingAt", out _));
        var response = await server.Client.GetAsync(WorkerIpxe, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        AssertDiskBootScript(await response.Content.ReadAsStringAsync(Ct), "installing");
        var history = (await server.MachineAsync("worker-0", Ct)).GetProperty("history");
        Assert.Equal("matched by mac; boot from disk /dev/vda (installing)", history[history.GetArrayLength() - 1].GetProperty("detail").GetString());

        // The same machine's retries do not move the install's time.
        var first = machine.GetProperty("install").GetProperty("installingAt").GetDateTimeOffset();
        (await server.Client.GetAsync("/ignition?" + WorkerQuery, Ct)).EnsureSuccessStatusCode();
        Assert.Equal(first, (await server.MachineAsync("worker-0", Ct)).GetProperty("install").GetProperty("installingAt").GetDateTimeOffset());
    }

    [Fact]
    public async Task The_installed_report_is_persisted_and_a_restarted_server_still_boots_the_disk()
    {
        await using (var server = await RunningServer.StartAsync(_tree))
        {
            var key = await InstallAsync(server);
            using var reported = await ReportAsync(server, "worker-0", "installed", key);
            Assert.Equal(HttpStatusCode.NoContent, reported.StatusCode);
            Assert.Equal(MachinePhases.Installed, await PhaseAsync(server, "worker-0"));
        }

        await using var restarted = await RunningServer.StartAsync(_tree);
        Assert.Equal(MachinePhases.Installed, await PhaseAsync(restarted, "worker-0"));
        AssertDiskBootScript(await restarted.Client.GetStringAsync(WorkerIpxe, Ct), "installed");
    }

    [Fact]
    public async Task Reprovision_makes_the_next_PXE_boot_install_again_and_machines_list_shows_each_phase()
    {
        await using var server = await RunningServer.StartAsync(_tree);
        var url = server.BaseAddress.ToString().TrimEnd('/');
        var key = await InstallAsync(server);
        var listed = await CliRun.RunAsync(["machines", "list", "--server", url]);
        Assert.Matches(@"(?m)^worker-0 +worker +ignition +installing ", listed.Out);
        (await ReportAsync(server, "worker-0", "installed", key)).EnsureSuccessStatusCode();
        listed = await CliRun.RunAsync(["machines", "list", "--server", url]);
        Assert.Matches(@"(?m)^worker-0 +worker +installed +installed ", listed.Out);

        var reprovision = await CliRun.RunAsync(["machines", "reprovision", "worker-0", "--server", url]);
        Assert.True(reprovision.Exit == 0, reprovision.Err);
        Assert.StartsWith("worker-0: ready;", reprovision.Out);

        var kernel = KernelLine(await server.Client.GetStringAsync(WorkerIpxe, Ct));
        Assert.Contains(" coreos.inst.install_dev=/dev/vda ", kernel);
        var machine = await server.MachineAsync("worker-0", Ct);
        Assert.Equal(MachinePhases.Ready, machine.GetProperty("phase").GetString());
        Assert.False(machine.TryGetProperty("install", out _), "install facts of an earlier round are history");

        // The new round's installer fetch makes it installing again, and its reboot boots the disk again.
        (await server.Client.GetAsync("/ignition?" + WorkerQuery, Ct)).EnsureSuccessStatusCode();
        Assert.Equal(MachinePhases.Installing, await PhaseAsync(server, "worker-0"));
        AssertDiskBootScript(await server.Client.GetStringAsync(WorkerIpxe, Ct), "installing");
    }

    [Fact]
    public async Task A_roles_installDisk_applies_to_its_machines_and_a_machines_own_disk_wins()
    {
        _tree.Edit("machines.yaml", "    installDisk: /dev/vda\n    labels:", "    labels:");
        _tree.Edit("machines.yaml", "      dns: [192.0.2.1]\n    installDisk: /dev/vda\n\n  - name: cp-0", "      dns: [192.0.2.1]\n    installDisk: /dev/nvme0n1\n\n  - name: cp-0");
        _tree.Edit("roles.yaml", "    ignition:\n      template: worker\n", "    ignition:\n      template: worker\n    installDisk: /dev/disk/by-path/pci-0000:00:1f.2-ata-1\n");
        _tree.Edit("roles.yaml", "    ignition:\n      template: bootstrap\n", "    ignition:\n      template: bootstrap\n    installDisk: /dev/sda\n");
        await using var server = await RunningServer.StartAsync(_tree);

        Assert.Contains(" coreos.inst.install_dev=/dev/disk/by-path/pci-0000:00:1f.2-ata-1 ",
            KernelLine(await server.Client.GetStringAsync(WorkerIpxe, Ct)));
        Assert.Contains(" coreos.inst.install_dev=/dev/nvme0n1 ", KernelLine(await server.Client.GetStringAsync("/ipxe?mac=52-54-00-00-10-01", Ct)));
    }

    [Fact]
    public async Task A_roles_localBoot_lines_replace_the_disk_boot_lines()
    {
        _tree.Edit("roles.yaml", "      kernel: fcos/kernel\n      initrd: [fcos/initramfs.img]\n      args: [coreos.live.rootfs_url=http://192.0.2.1:8080/assets/fcos/rootfs.img]\n    ignition:\n      template: worker\n",
            "      kernel: fcos/kernel\n      initrd: [fcos/initramfs.img]\n      args: [coreos.live.rootfs_url=http://192.0.2.1:8080/assets/fcos/rootfs.img]\n      localBoot: |\n        sanboot --no-describe --drive 0x81\n        exit\n    ignition:\n      template: worker\n");
        await using var server = await RunningServer.StartAsync(_tree);
        (await server.Client.GetAsync("/ignition?" + WorkerQuery, Ct)).EnsureSuccessStatusCode();

        var script = await server.Client.GetStringAsync(WorkerIpxe, Ct);
        Assert.EndsWith("booting from the local disk\nsanboot --no-describe --drive 0x81\nexit\n", script);
        Assert.DoesNotContain("0x80", script);
    }

    [Fact]
    public async Task A_live_machine_boots_as_before_and_cannot_report_installed()
    {
        _tree.Edit("machines.yaml", "    installDisk: /dev/vda\n    labels:", "    labels:");
        await using var server = await RunningServer.StartAsync(_tree);
        var key = await InstallAsync(server);

        Assert.Equal(MachinePhases.Provisioning, await PhaseAsync(server, "worker-0"));
        var kernel = KernelLine(await server.Client.GetStringAsync(WorkerIpxe, Ct));
        Assert.Contains($" ignition.config.url=http://192.0.2.1:8080/ignition?{WorkerQuery}&ticket=", kernel);
        Assert.DoesNotContain("coreos.inst.", kernel);
        using var reported = await ReportAsync(server, "worker-0", "installed", key);
        Assert.Equal(HttpStatusCode.Conflict, reported.StatusCode);
        Assert.Contains("machine worker-0 has no installDisk", await reported.Content.ReadAsStringAsync(Ct));
        Assert.Equal(MachinePhases.Provisioning, await PhaseAsync(server, "worker-0"));
    }
}
