using System.Net;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Http;

[Trait(Category.Name, Category.Integration)]
public sealed class ReloadTests : ServerTest
{
    private Task<string> EventuallyAsync(string url, Func<string, bool> until) => EventuallyAsync(() => Client.GetStringAsync(url, Ct), until);

    /// <summary>worker-0's real config, re-armed after each fetch (it is released once per provisioning round).</summary>
    private async Task<string> WorkerConfigAsync()
    {
        var config = await Server.RealConfigAsync("mac=52-54-00-00-30-01", Ct);
        await Server.ReprovisionAsync("worker-0", Ct);
        return config;
    }

    private async Task<string> EventuallyAsync(Func<Task<string>> fetch, Func<string, bool> until)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        string last = "";
        while (DateTime.UtcNow < deadline)
        {
            last = await fetch();
            if (until(last)) return last;
            await Task.Delay(50, Ct);
        }
        Assert.Fail($"condition not reached within 10 s; last response:\n{last}");
        return last;
    }

    [Fact]
    public async Task AddedMachineBootsWithoutARestart()
    {
        Assert.Contains("no machine profile matches", await Client.GetStringAsync("/ipxe?mac=52-54-00-00-30-09", Ct));
        File.WriteAllText(Tree.ProfileFile("new.yaml"), "machines:\n  - name: worker-9\n    role: worker\n    select: { mac: 52:54:00:00:30:09 }\n");
        var script = await EventuallyAsync("/ipxe?mac=52-54-00-00-30-09", s => s.Contains("machine worker-9"));
        Assert.Contains("kernel ", script);
    }

    [Fact]
    public async Task InvalidEditKeepsServingTheLastGoodProfiles()
    {
        Tree.Edit("machines.yaml", "role: worker", "role: no-such-role");
        await EventuallyAsync("/readyz", s => s.Contains("role 'no-such-role' does not exist"));
        var script = await Client.GetStringAsync("/ipxe?mac=52-54-00-00-30-01", Ct);
        Assert.Contains("machine worker-0, role worker", script);
    }

    [Fact]
    public async Task TemplateEditIsPickedUp()
    {
        Tree.WriteTemplate("worker/kubelet.service", "[Unit]\nDescription=edited {{ machine.name }}\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n");
        await EventuallyAsync(WorkerConfigAsync, s => s.Contains("edited worker-0"));
    }

    [Fact]
    public async Task TemplateWithUnknownVariableIsRejectedOnReload()
    {
        Tree.WriteTemplate("worker/kubelet.service", "[Unit]\nDescription={{ machine.nmae }}\n");
        var ready = await EventuallyAsync("/readyz", s => s.Contains("nmae"));
        Assert.Contains("kubelet.service", ready);
        Assert.Contains("Kubernetes kubelet (worker)", await WorkerConfigAsync());
    }
}
