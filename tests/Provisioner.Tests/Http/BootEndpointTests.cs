using System.Net;
using System.Text.Json;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Http;

[Trait(Category.Name, Category.Integration)]
public sealed class BootEndpointTests : ServerTest
{
    [Fact]
    public async Task BootScriptChainsToTheMachineScriptWithEveryIdentity()
    {
        var script = await Client.GetStringAsync("/boot.ipxe", Ct);
        Assert.StartsWith("#!ipxe\n", script);
        Assert.Contains("chain --autofree http://192.0.2.1:8080/ipxe?mac=${mac:hexhyp}&uuid=${uuid}&serial=${serial:uristring}&hostname=${hostname:uristring}&arch=${buildarch}&platform=${platform}", script);
        // A machine script that returns (install mode's disk boot under UEFI exits it) ends iPXE too; a failure retries.
        Assert.Contains("&platform=${platform} || goto provisioner_retry\n", script);
        Assert.Contains("\nexit\n:provisioner_retry\necho Provisioner could not be reached", script);
    }

    [Fact]
    public async Task KnownMachineGetsKernelInitrdAndIgnitionArgs()
    {
        var response = await Client.GetAsync("/ipxe?mac=52-54-00-00-30-01&uuid=&serial=&hostname=&arch=x86_64&platform=pcbios", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var lines = (await response.Content.ReadAsStringAsync(Ct)).Split('\n');
        Assert.Equal("#!ipxe", lines[0]);
        var kernel = Assert.Single(lines, l => l.StartsWith("kernel ", StringComparison.Ordinal));
        Assert.StartsWith("kernel http://192.0.2.1:8080/assets/fcos/kernel?mac=52-54-00-00-30-01 initrd=initrd0 ", kernel);
        // The example machines install to disk: the installer gets the config URL (with its one-time ticket), the live system none.
        Assert.Matches(" coreos.inst.ignition_url=http://192.0.2.1:8080/ignition\\?mac=52-54-00-00-30-01&ticket=[A-Za-z0-9_-]{56} ", kernel);
        Assert.DoesNotContain("ignition.config.url=", kernel);
        Assert.Contains(" ignition.firstboot ", kernel);
        Assert.Contains(" ignition.platform.id=metal ", kernel);
        Assert.Contains(" console=ttyS0,115200n8 ", kernel);
        Assert.Contains(" coreos.inst.install_dev=/dev/vda ", kernel);
        Assert.EndsWith(" coreos.live.rootfs_url=http://192.0.2.1:8080/assets/fcos/rootfs.img", kernel);
        Assert.Contains("initrd --name initrd0 http://192.0.2.1:8080/assets/fcos/initramfs.img?mac=52-54-00-00-30-01", lines);
        Assert.Equal("boot", lines.Last(l => l.Length > 0));
    }

    [Fact]
    public async Task UnknownMachineGetsAValidRetryScriptNotA404()
    {
        var response = await Client.GetAsync("/ipxe?mac=52-54-00-99-99-99&uuid=&serial=&hostname=", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var script = await response.Content.ReadAsStringAsync(Ct);
        Assert.StartsWith("#!ipxe\n", script);
        Assert.Contains("no machine profile matches this machine (mac=52:54:00:99:99:99)", script);
        Assert.Contains("sleep 30\n", script);
        Assert.Contains("chain --replace --autofree http://192.0.2.1:8080/ipxe?mac=52-54-00-99-99-99\n", script);
    }

    [Fact]
    public async Task Unknown_machines_sending_the_nil_uuid_are_listed_apart_by_mac()
    {
        foreach (var mac in new[] { "52-54-00-99-00-01", "52-54-00-99-00-02" })
            (await Client.GetAsync($"/ipxe?mac={mac}&uuid=00000000-0000-0000-0000-000000000000", Ct)).EnsureSuccessStatusCode();

        var discovered = (await Server.MachinesAsync(Ct)).Where(m => !m.GetProperty("known").GetBoolean()).ToList();
        Assert.Equal(["52:54:00:99:00:01", "52:54:00:99:00:02"], discovered.Select(m => m.GetProperty("mac").GetString()).Order());
        Assert.All(discovered, m => Assert.False(m.TryGetProperty("uuid", out _), "a placeholder uuid is no identity"));
    }

    [Fact]
    public async Task A_reason_that_quotes_the_request_escapes_its_control_characters()
    {
        var response = await Client.GetAsync("/ipxe?mac=%0d%0a[22:00:00%20INF]%20forged%1b[2J", Ct);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var body = await response.Content.ReadAsStringAsync(Ct);
        Assert.DoesNotContain('\r', body);
        Assert.DoesNotContain('\u001b', body);
        Assert.Single(body.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("\\u001b[2J", body);
    }

    [Fact]
    public async Task UnknownMachineIsRecordedAsDiscovered()
    {
        await Client.GetAsync("/ipxe?mac=52-54-00-99-99-98&serial=XYZ", Ct);
        var discovered = (await Server.MachinesAsync(Ct)).Single(m => !m.GetProperty("known").GetBoolean());
        Assert.Equal("discovered", discovered.GetProperty("state").GetString());
        Assert.Equal("52:54:00:99:99:98", discovered.GetProperty("mac").GetString());
        Assert.Equal("XYZ", discovered.GetProperty("serial").GetString());
    }

    [Theory]
    [InlineData("/ipxe?mac=not-a-mac", "mac 'not-a-mac' is not a MAC address")]
    [InlineData("/ipxe?uuid=1234", "uuid '1234' is not a UUID")]
    [InlineData("/ipxe?hostname=a%0Ab", "hostname")]
    [InlineData("/ipxe?mac=&uuid=", "no machine identity given")]
    [InlineData("/ipxe?mac=52-54-00-00-30-01&mac=52-54-00-00-30-02", "'mac' is given 2 times")]
    [InlineData("/ignition?mac=zz", "mac 'zz' is not a MAC address")]
    public async Task BadQueryValuesAre400WithAReason(string url, string reason)
    {
        var response = await Client.GetAsync(url, Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(reason, await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task OverlongQueryValueIs400()
    {
        var response = await Client.GetAsync("/ipxe?serial=" + new string('x', 500), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("longer than 128", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task UuidSelectorWinsOverHttpMac()
    {
        // cp-0's UUID with worker-0's MAC: the UUID is the stronger identity.
        var script = await Client.GetStringAsync("/ipxe?mac=52-54-00-00-30-01&uuid=8c4e2a4e-0000-4000-8000-000000002001", Ct);
        Assert.Contains("machine cp-0, role control-plane", script);
    }

    [Fact]
    public async Task MachineStagesAreRecordedInOrder()
    {
        await Client.GetStringAsync("/ipxe?mac=52-54-00-00-30-01", Ct);
        await Client.GetStringAsync("/ignition?mac=52-54-00-00-30-01", Ct);
        var worker = await Server.MachineAsync("worker-0", Ct);
        Assert.Equal("ignition", worker.GetProperty("state").GetString());
        Assert.Equal(["ipxe", "ignition"], worker.GetProperty("history").EnumerateArray().Select(e => e.GetProperty("stage").GetString()));
        var cp = await Server.MachineAsync("cp-0", Ct);
        Assert.Equal("pending", cp.GetProperty("state").GetString());
    }
}
