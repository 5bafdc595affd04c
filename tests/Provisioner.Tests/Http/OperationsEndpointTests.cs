using System.Net;
using System.Text.Json;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Http;

[Trait(Category.Name, Category.Integration)]
public sealed class OperationsEndpointTests : ServerTest
{
    [Fact]
    public async Task HealthzAnswersOk() => Assert.Equal("ok\n", await Client.GetStringAsync("/healthz", Ct));

    [Fact]
    public async Task ReadyzReportsTheLoadedProfiles()
    {
        using var doc = JsonDocument.Parse(await Client.GetStringAsync("/readyz", Ct));
        Assert.Equal("ready", doc.RootElement.GetProperty("status").GetString());
        Assert.Equal(3, doc.RootElement.GetProperty("profiles").GetProperty("machines").GetInt32());
    }

    [Fact]
    public async Task MetricsCountRequestsByEndpointAndStatusAndMachinesByState()
    {
        await Client.GetStringAsync("/ipxe?mac=52-54-00-00-30-01", Ct);
        await Client.GetAsync("/ipxe?mac=bad", Ct);
        await Client.GetAsync("/ipxe?mac=52-54-00-99-99-99", Ct);
        var metrics = await Client.GetStringAsync("/metrics", Ct);
        Assert.Contains("provisioner_http_requests_total{endpoint=\"/ipxe\",status=\"200\"} 2", metrics);
        Assert.Contains("provisioner_http_requests_total{endpoint=\"/ipxe\",status=\"400\"} 1", metrics);
        Assert.Contains("provisioner_machines{state=\"ipxe\"} 1", metrics);
        Assert.Contains("provisioner_machines{state=\"pending\"} 2", metrics);
        Assert.Contains("provisioner_machines{state=\"discovered\"} 1", metrics);
    }

    [Fact]
    public async Task UnknownPathIs404WithoutAStackTrace()
    {
        var response = await Client.GetAsync("/nope", Ct);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task MachinesListsEveryKnownMachine()
    {
        var names = (await Server.MachinesAsync(Ct)).Select(m => m.GetProperty("name").GetString()).ToList();
        Assert.Equal(["bootstrap-0", "cp-0", "worker-0"], names);
    }
}
