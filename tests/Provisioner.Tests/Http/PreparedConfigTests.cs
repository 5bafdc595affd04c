using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Provisioner.Catalog;
using Provisioner.Cluster;
using Provisioner.Ignition;
using Provisioner.Inventory;
using Provisioner.Rendering;
using Provisioner.Tests.Cluster;
using Provisioner.Tests.Support;
using Provisioner.Boot;

namespace Provisioner.Tests.Http;

/// <summary>Configs and scripts are prepared when what they are made of changes, and served as prepared bytes.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed partial class PreparedConfigTests : ServerTest
{
    private const string Worker = "52-54-00-00-30-01";
    private const string Bootstrap = "52-54-00-00-10-01";

    private PreparedIgnition Prepared => Server.Server.Services.GetRequiredService<PreparedIgnition>();
    private ClusterAssetService Cluster => Server.Server.Services.GetRequiredService<ClusterAssetService>();

    /// <summary>Waits until the background pass has prepared configs for the current catalog and tokens.</summary>
    private async Task PreparedAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (!Prepared.IsCurrent)
        {
            Assert.True(DateTime.UtcNow < deadline, "configs were not prepared within 15 s");
            await Task.Delay(20, Ct);
        }
    }

    private async Task<double> RendersAsync()
    {
        var metrics = await Client.GetStringAsync("/metrics", Ct);
        var samples = RenderSample().Matches(metrics).Select(m => double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)).ToList();
        Assert.NotEmpty(samples); // the counter exists (it is what says "no rendering")
        return samples.Sum();
    }

    [GeneratedRegex(@"^provisioner_ignition_renders_total\{[^}]*\} (\S+)$", RegexOptions.Multiline)]
    private static partial Regex RenderSample();

    private async Task<HttpResponseMessage> GetAsync(string url, string? ifNoneMatch = null, string? accept = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url);
        if (ifNoneMatch is not null) request.Headers.TryAddWithoutValidation("If-None-Match", ifNoneMatch);
        if (accept is not null) request.Headers.TryAddWithoutValidation("Accept", accept);
        return await Client.SendAsync(request, Ct);
    }

    [Fact]
    public async Task A_config_served_twice_is_byte_identical_and_the_second_serve_renders_nothing()
    {
        await PreparedAsync();
        var before = await RendersAsync();
        var first = await Client.GetByteArrayAsync($"/ignition?mac={Worker}", Ct);
        var second = await Client.GetByteArrayAsync($"/ignition?mac={Worker}", Ct);
        var third = await Client.GetByteArrayAsync($"/ignition?mac={Bootstrap}", Ct);
        Assert.Equal(first, second);
        Assert.NotEmpty(third);
        Assert.Equal(before, await RendersAsync());
    }

    [Fact]
    public async Task Served_bytes_are_those_a_per_request_render_makes_for_every_machine_and_spec_version()
    {
        await PreparedAsync();
        var catalog = Server.Server.Services.GetRequiredService<CatalogStore>().Current;
        var renderer = Server.Server.Services.GetRequiredService<IgnitionRenderer>();
        foreach (var machine in catalog.Profiles.Machines)
        {
            var mac = machine.Select.Macs[0].ToHexHyphen();
            // What /ignition did per request before configs were prepared.
            var material = await Cluster.MaterialForServingAsync(catalog, machine, Ct);
            var config = renderer.Render(catalog.Templates, catalog.Profiles, machine, catalog.Profiles.Cluster.ProvisionerUrl!, material);
            foreach (var version in IgnitionSpec.Supported.Where(v => v >= IgnitionSpec.MinimumVersion(config)))
            {
                var response = await GetAsync($"/ignition?mac={mac}", accept: $"application/vnd.coreos.ignition+json;version={IgnitionSpec.Format(version)}, */*;q=0.1");
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                Assert.Equal(IgnitionSpec.ContentType(version), response.Content.Headers.ContentType!.ToString().Replace(" ", ""));
                Assert.Equal(IgnitionJson.SerializeToUtf8(config.WithVersion(version)), await response.Content.ReadAsByteArrayAsync(Ct));
            }
            var unspecified = await Client.GetByteArrayAsync($"/ignition?mac={mac}", Ct);
            Assert.Equal(IgnitionJson.SerializeToUtf8(config.WithVersion(IgnitionSpec.Default)), unspecified);
        }
    }

    [Theory]
    [InlineData("/ignition?mac=" + Worker)]
    [InlineData("/ipxe?mac=" + Worker)]
    public async Task The_etag_is_a_strong_content_hash_and_if_none_match_answers_304(string url)
    {
        var response = await GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsByteArrayAsync(Ct);
        var etag = response.Headers.ETag!;
        Assert.False(etag.IsWeak);
        Assert.Equal($"\"{Convert.ToHexStringLower(SHA256.HashData(body))}\"", etag.Tag);

        var notModified = await GetAsync(url, etag.Tag);
        Assert.Equal(HttpStatusCode.NotModified, notModified.StatusCode);
        Assert.Empty(await notModified.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(etag.Tag, notModified.Headers.ETag!.Tag);
        Assert.Equal(HttpStatusCode.NotModified, (await GetAsync(url, $"\"other\", W/{etag.Tag}")).StatusCode);
        Assert.Equal(HttpStatusCode.NotModified, (await GetAsync(url, "*")).StatusCode);

        var other = await GetAsync(url, "\"0000\"");
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);
        Assert.Equal(body, await other.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Each_spec_version_has_its_own_etag()
    {
        var v34 = await GetAsync($"/ignition?mac={Worker}", accept: "application/vnd.coreos.ignition+json;version=3.4.0");
        var v35 = await GetAsync($"/ignition?mac={Worker}", accept: "application/vnd.coreos.ignition+json;version=3.5.0");
        Assert.NotEqual(v34.Headers.ETag!.Tag, v35.Headers.ETag!.Tag);
        var cross = await GetAsync($"/ignition?mac={Worker}", v34.Headers.ETag.Tag, "application/vnd.coreos.ignition+json;version=3.5.0");
        Assert.Equal(HttpStatusCode.OK, cross.StatusCode);
        Assert.Contains("\"version\":\"3.5.0\"", await cross.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task A_template_edit_changes_the_prepared_config()
    {
        await PreparedAsync();
        var before = await GetAsync($"/ignition?mac={Worker}");
        Assert.DoesNotContain("edited worker-0", await before.Content.ReadAsStringAsync(Ct));
        Tree.WriteTemplate("worker/kubelet.service", "[Unit]\nDescription=edited {{ machine.name }}\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n");
        Assert.True(await Server.Server.Services.GetRequiredService<CatalogStore>().ReloadAsync(Ct));
        // At once after the reload, prepared or not.
        var after = await GetAsync($"/ignition?mac={Worker}");
        Assert.Contains("edited worker-0", await after.Content.ReadAsStringAsync(Ct));
        Assert.NotEqual(before.Headers.ETag!.Tag, after.Headers.ETag!.Tag);
        await PreparedAsync();
        Assert.Contains("edited worker-0", await Client.GetStringAsync($"/ignition?mac={Worker}", Ct));
    }

    [Fact]
    public async Task A_revoked_token_is_not_served_again_and_the_serve_mints_a_new_one()
    {
        await PreparedAsync();
        var token = Cluster.Tokens.FindForMachine("worker-0")!;
        var workerBefore = await Client.GetStringAsync($"/ignition?mac={Worker}", Ct);
        var bootstrapBefore = await Client.GetStringAsync($"/ignition?mac={Bootstrap}", Ct);
        Assert.Contains(token.Id, IgnitionFiles.DecodeAll(workerBefore));
        Assert.Contains(token.Id, IgnitionFiles.DecodeAll(bootstrapBefore)); // its Secret is in the bootstrap machine's manifests

        Assert.True(await Cluster.Tokens.RevokeAsync(token.Id, Ct));

        // No waiting: a token change makes every prepared config stale at once.
        var workerAfter = IgnitionFiles.DecodeAll(await Client.GetStringAsync($"/ignition?mac={Worker}", Ct));
        var minted = Cluster.Tokens.FindForMachine("worker-0")!;
        Assert.NotEqual(token.Id, minted.Id);
        Assert.DoesNotContain(token.Id, workerAfter);
        Assert.Contains(minted.Value, workerAfter);
        var bootstrapAfter = IgnitionFiles.DecodeAll(await Client.GetStringAsync($"/ignition?mac={Bootstrap}", Ct));
        Assert.DoesNotContain(token.Id, bootstrapAfter);
        Assert.Contains(minted.Id, bootstrapAfter);

        // And once prepared again, the new token is what is prepared.
        await PreparedAsync();
        Assert.Contains(minted.Value, IgnitionFiles.DecodeAll(await Client.GetStringAsync($"/ignition?mac={Worker}", Ct)));
    }

    [Fact]
    public async Task A_token_minted_by_another_process_reaches_the_prepared_configs()
    {
        await PreparedAsync();
        var token = Cluster.Tokens.FindForMachine("worker-0")!;
        // provisioner render (another process) revokes nothing but a second store on the same file mints after a revoke.
        var other = await Provisioner.Tokens.BootstrapTokenStore.OpenAsync(Cluster.Tokens.FilePath, TimeProvider.System, Cluster.Tokens.Lifetime, Ct);
        await other.RevokeAsync(token.Id, Ct);
        var minted = await other.GetOrMintAsync("worker-0", Ct);
        await Cluster.Tokens.RefreshAsync(Ct); // what the store's file watch does
        Assert.Contains(minted.Value, IgnitionFiles.DecodeAll(await Client.GetStringAsync($"/ignition?mac={Worker}", Ct)));
    }

    [Fact]
    public async Task Repeat_deliveries_to_the_same_address_within_a_second_are_written_once()
    {
        var state = Server.Server.Services.GetRequiredService<MachineStateStore>();
        for (var i = 0; i < 5; i++) await Client.GetByteArrayAsync($"/ignition?mac={Worker}", Ct);
        Assert.Single(OnDisk(state).Deliveries);

        await Task.Delay(RepeatDeliveries.Window + TimeSpan.FromMilliseconds(100), Ct);
        await Client.GetByteArrayAsync($"/ignition?mac={Worker}", Ct);
        Assert.Equal(2, OnDisk(state).Deliveries.Length);

        // Another address is always written, however soon.
        using var fromOther = ClientFrom(IPAddress.Parse("127.0.0.2"));
        await fromOther.GetByteArrayAsync($"/ignition?mac={Worker}", Ct);
        var deliveries = OnDisk(state).Deliveries;
        Assert.Equal(3, deliveries.Length);
        Assert.Equal("127.0.0.2", deliveries[^1].Address);
    }

    private static MachineState OnDisk(MachineStateStore live)
    {
        var store = MachineStateStore.OpenAsync(live.FilePath, TimeProvider.System, CancellationToken.None).GetAwaiter().GetResult();
        return store.Get("worker-0")!;
    }

    /// <summary>A client whose connections come from <paramref name="source"/> (any 127.0.0.0/8 address reaches the server).</summary>
    private HttpClient ClientFrom(IPAddress source) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (context, ct) =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(source, 0));
            await socket.ConnectAsync(context.DnsEndPoint, ct);
            return new NetworkStream(socket, ownsSocket: true);
        },
    }) { BaseAddress = Server.BaseAddress };

    [Fact]
    public async Task Ipxe_scripts_are_built_once_per_query()
    {
        var first = await Client.GetByteArrayAsync($"/ipxe?mac={Worker}&arch=x86_64", Ct);
        var builds = await IpxeRendersAsync();
        Assert.Equal(first, await Client.GetByteArrayAsync($"/ipxe?mac={Worker}&arch=x86_64", Ct));
        Assert.Equal(builds, await IpxeRendersAsync());
        // The script repeats the identity the machine sent, so another query is another script.
        var withSerial = Encoding.UTF8.GetString(await Client.GetByteArrayAsync($"/ipxe?mac={Worker}&serial=DEMO-W0", Ct));
        Assert.Contains("serial=DEMO-W0", withSerial);
    }

    private async Task<double> IpxeRendersAsync()
    {
        var metrics = await Client.GetStringAsync("/metrics", Ct);
        var line = metrics.Split('\n').Single(l => l.StartsWith("provisioner_ipxe_renders_total ", StringComparison.Ordinal));
        return double.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
    }
}

public sealed class RepeatDeliveriesTests
{
    private static readonly DateTimeOffset Now = new(2026, 1, 1, 12, 0, 0, TimeSpan.Zero);

    private static MachineState With(params Delivery[] deliveries) => MachineState.New("m") with { Deliveries = [.. deliveries] };

    [Fact]
    public void The_first_delivery_is_never_skipped()
    {
        Assert.False(RepeatDeliveries.AlreadyRecorded(null, DeliveryKinds.Ignition, "10.0.0.1", Now));
        Assert.False(RepeatDeliveries.AlreadyRecorded(With(), DeliveryKinds.Ignition, "10.0.0.1", Now));
    }

    [Fact]
    public void A_repeat_from_the_same_address_within_a_second_is_skipped()
    {
        var state = With(new Delivery(DeliveryKinds.Ignition, Now.AddMilliseconds(-900), "10.0.0.1"));
        Assert.True(RepeatDeliveries.AlreadyRecorded(state, DeliveryKinds.Ignition, "10.0.0.1", Now));
    }

    [Fact]
    public void Another_address_a_second_later_a_clock_that_went_back_or_no_address_is_recorded()
    {
        var state = With(new Delivery(DeliveryKinds.Ignition, Now.AddMilliseconds(-100), "10.0.0.1"));
        Assert.False(RepeatDeliveries.AlreadyRecorded(state, DeliveryKinds.Ignition, "10.0.0.2", Now));
        Assert.False(RepeatDeliveries.AlreadyRecorded(state, DeliveryKinds.Ignition, null, Now));
        Assert.False(RepeatDeliveries.AlreadyRecorded(state, DeliveryKinds.Ignition, "10.0.0.1", Now.AddSeconds(1)));
        Assert.False(RepeatDeliveries.AlreadyRecorded(state, DeliveryKinds.Ignition, "10.0.0.1", Now.AddSeconds(-1)));
    }

    [Fact]
    public void The_first_delivery_after_a_reprovision_is_recorded()
    {
        var state = With(new Delivery(DeliveryKinds.Ignition, Now.AddMilliseconds(-300), "10.0.0.1")) with { ArmedAt = Now.AddMilliseconds(-100) };
        Assert.False(RepeatDeliveries.AlreadyRecorded(state, DeliveryKinds.Ignition, "10.0.0.1", Now));
    }

    [Fact]
    public void Only_the_newest_delivery_counts()
    {
        var state = With(new Delivery(DeliveryKinds.Ignition, Now.AddMilliseconds(-200), "10.0.0.1"),
            new Delivery(DeliveryKinds.Ignition, Now.AddMilliseconds(-100), "10.0.0.2"));
        Assert.False(RepeatDeliveries.AlreadyRecorded(state, DeliveryKinds.Ignition, "10.0.0.1", Now));
    }
}

/// <summary>Without provisionerUrl, configs carry the address the machine reached; each such base URL is prepared and kept.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class PreparedConfigBaseUrlTests : IAsyncLifetime
{
    private readonly ProfileTree _tree = new();
    private RunningServer _server = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        _tree.Edit("cluster.yaml", "  provisionerUrl: http://192.0.2.1:8080\n", "");
        _server = await RunningServer.StartAsync(_tree);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _tree.Dispose();
    }

    private async Task<(string Bootkube, string? ETag)> BootkubeVia(string host)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/ignition?mac=52-54-00-00-10-01");
        request.Headers.Host = host;
        var response = await _server.Client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var files = IgnitionFiles.Decode(await response.Content.ReadAsStringAsync(Ct));
        return (files["/usr/local/bin/bootkube.sh"].Text, response.Headers.ETag?.Tag);
    }

    [Fact]
    public async Task Each_base_url_gets_its_own_config_every_time()
    {
        var port = _server.BaseAddress.Port;
        for (var round = 0; round < 3; round++)
        {
            var (viaIp, ipTag) = await BootkubeVia($"127.0.0.1:{port}");
            var (viaName, nameTag) = await BootkubeVia($"localhost:{port}");
            Assert.Contains($"http://127.0.0.1:{port}/api/v1/progress", viaIp);
            Assert.Contains($"http://localhost:{port}/api/v1/progress", viaName);
            Assert.NotEqual(ipTag, nameTag);
            await Task.Delay(200, Ct); // let the background pass prepare both base URLs
        }
    }
}
