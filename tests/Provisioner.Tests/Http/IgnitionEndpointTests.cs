using System.Net;
using System.Text;
using System.Text.Json;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Http;

[Trait(Category.Name, Category.Integration)]
public sealed class IgnitionEndpointTests : ServerTest
{
    private static string DataUrlText(string source)
    {
        Assert.StartsWith("data:,", source);
        return Uri.UnescapeDataString(source["data:,".Length..]);
    }

    [Fact]
    public async Task KnownMachineGetsItsConfigAsSpec34ByDefault()
    {
        var response = await Client.GetAsync("/ignition?mac=52-54-00-00-20-01", Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/vnd.coreos.ignition+json", response.Content.Headers.ContentType!.MediaType);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal("3.4.0", doc.RootElement.GetProperty("ignition").GetProperty("version").GetString());
        using var real = JsonDocument.Parse(await Server.RealConfigAsync("mac=52-54-00-00-20-01", Ct));
        Assert.Equal("3.4.0", real.RootElement.GetProperty("ignition").GetProperty("version").GetString());
    }

    [Fact]
    public async Task ConfigCarriesHostnameStaticNetworkSshKeysAndKubelet()
    {
        using var doc = JsonDocument.Parse(await Server.RealConfigAsync("mac=52-54-00-00-20-02", Ct));
        var root = doc.RootElement;
        var files = root.GetProperty("storage").GetProperty("files").EnumerateArray().ToDictionary(f => f.GetProperty("path").GetString()!);
        Assert.Equal("cp-0", DataUrlText(files["/etc/hostname"].GetProperty("contents").GetProperty("source").GetString()!));
        var keyfile = DataUrlText(files["/etc/NetworkManager/system-connections/provisioner.nmconnection"].GetProperty("contents").GetProperty("source").GetString()!);
        Assert.Contains("interface-name=ens3\n", keyfile);
        Assert.Contains("address1=192.0.2.21/24,192.0.2.1\n", keyfile);
        Assert.Contains("dns=192.0.2.1;\n", keyfile);
        Assert.Equal(384, files["/etc/NetworkManager/system-connections/provisioner.nmconnection"].GetProperty("mode").GetInt32());
        var user = root.GetProperty("passwd").GetProperty("users")[0];
        Assert.Equal("core", user.GetProperty("name").GetString());
        Assert.StartsWith("ssh-ed25519 ", user.GetProperty("sshAuthorizedKeys")[0].GetString());
        var kubelet = root.GetProperty("systemd").GetProperty("units").EnumerateArray().Single(u => u.GetProperty("name").GetString() == "kubelet.service");
        Assert.True(kubelet.GetProperty("enabled").GetBoolean());
        Assert.Contains("--register-with-taints=node-role.kubernetes.io/control-plane:NoSchedule", kubelet.GetProperty("contents").GetString());
    }

    [Fact]
    public async Task DhcpMachineGetsNoStaticKeyfile()
    {
        using var doc = JsonDocument.Parse(await Server.RealConfigAsync("mac=52-54-00-00-30-01", Ct));
        var paths = doc.RootElement.GetProperty("storage").GetProperty("files").EnumerateArray().Select(f => f.GetProperty("path").GetString());
        Assert.Contains("/etc/hostname", paths);
        Assert.DoesNotContain(paths, p => p!.StartsWith("/etc/NetworkManager/", StringComparison.Ordinal));
    }

    [Fact]
    public async Task UnknownMachineIs404WithAReason()
    {
        var response = await Client.GetAsync("/ignition?mac=52-54-00-99-99-99", Ct);
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Contains("no machine profile matches mac=52:54:00:99:99:99", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task FetchIsRecordedAsTheIgnitionStage()
    {
        await Client.GetStringAsync("/ignition?uuid=8c4e2a4e-0000-4000-8000-000000002001", Ct);
        var cp = await Server.MachineAsync("cp-0", Ct);
        Assert.Equal("ignition", cp.GetProperty("state").GetString());
    }

    [Fact]
    public async Task ProgressReportIsRecorded()
    {
        var key = Provisioner.Tests.Cluster.IgnitionFiles.Decode(await Server.RealConfigAsync("mac=52-54-00-00-30-01", Ct))["/etc/provisioner/report-key"].Text.Trim();
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/progress")
        {
            Content = new StringContent("""{"mac":"52:54:00:00:30:01","stage":"ignition-fetched","detail":"sha256:abc"}""", Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
        var response = await Client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        var worker = await Server.MachineAsync("worker-0", Ct);
        Assert.Equal("ignition-fetched", worker.GetProperty("state").GetString());
        Assert.Equal("sha256:abc", worker.GetProperty("history").EnumerateArray().Last().GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("""{"mac":"52:54:00:00:30:01"}""", "'stage' is required")]
    [InlineData("""{"mac":"52:54:00:00:30:01","stage":"Bad Stage"}""", "'stage' is required")]
    [InlineData("""{"stage":"x"}""", "one of 'machine' or 'mac' is required")]
    [InlineData("""{"mac":"nope","stage":"x"}""", "mac 'nope' is not a MAC address")]
    [InlineData("""not json""", "body is not valid JSON")]
    public async Task MalformedProgressReportsAre400(string json, string reason)
    {
        var response = await Client.PostAsync("/api/v1/progress", new StringContent(json, Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(reason, await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task OversizedProgressBodyIsRefused()
    {
        var json = "{\"mac\":\"52:54:00:00:30:01\",\"stage\":\"x\",\"detail\":\"" + new string('a', 100_000) + "\"}";
        var response = await Client.PostAsync("/api/v1/progress", new StringContent(json, Encoding.UTF8, "application/json"), Ct);
        Assert.True(response.StatusCode is HttpStatusCode.BadRequest or HttpStatusCode.RequestEntityTooLarge, response.StatusCode.ToString());
    }
}

[Trait(Category.Name, Category.Integration)]
public sealed class IgnitionNegotiationHttpTests : ServerTest
{
    private async Task<HttpResponseMessage> GetAsync(string mac, string? accept)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, $"/ignition?mac={mac}");
        if (accept is not null) request.Headers.TryAddWithoutValidation("Accept", accept);
        return await Server.Client.SendAsync(request, Ct);
    }

    [Theory]
    [InlineData("3.0.0")]
    [InlineData("3.1.0")]
    [InlineData("3.2.0")]
    [InlineData("3.3.0")]
    [InlineData("3.4.0")]
    [InlineData("3.5.0")]
    public async Task RequestedSpecVersionIsServedAndValidatesAgainstItsSchema(string version)
    {
        foreach (var mac in new[] { "52-54-00-00-10-01", "52-54-00-00-20-01", "52-54-00-00-30-01" })
        {
            var response = await GetAsync(mac, $"application/vnd.coreos.ignition+json;version={version}, */*;q=0.1");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var contentType = response.Content.Headers.ContentType!;
            Assert.Equal("application/vnd.coreos.ignition+json", contentType.MediaType);
            Assert.Equal(version, contentType.Parameters.Single(p => p.Name == "version").Value);
            var pointer = await response.Content.ReadAsStringAsync(Ct);
            // The pointer, and the real config it merges, both in the negotiated version (Ignition asks both with one Accept).
            var real = await Server.RealConfigAsync($"mac={mac}", Ct, $"application/vnd.coreos.ignition+json;version={version}, */*;q=0.1");
            foreach (var json in new[] { pointer, real })
            {
                using var doc = JsonDocument.Parse(json);
                Assert.Equal(version, doc.RootElement.GetProperty("ignition").GetProperty("version").GetString());
                await Provisioner.Tests.Ignition.IgnitionSchema.AssertValidAsync(json, version);
                Assert.DoesNotContain(Provisioner.Ignition.IgnitionValidator.Validate(json), p => p.Severity == Provisioner.Ignition.IgnitionSeverity.Error);
            }
        }
    }

    [Theory]
    [InlineData("application/vnd.coreos.ignition+json;version=2.2.0")]
    [InlineData("application/vnd.coreos.ignition+json;version=3.6.0")]
    [InlineData("text/html")]
    public async Task UnsupportedVersionIs406WithAReason(string accept)
    {
        var response = await GetAsync("52-54-00-00-30-01", accept);
        Assert.Equal(HttpStatusCode.NotAcceptable, response.StatusCode);
        Assert.StartsWith("406 Not Acceptable: ", await response.Content.ReadAsStringAsync(Ct));
    }
}
