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
    protected override void EditProfiles(ProfileTree tree) => tree.LiveBoot();

    private const string Worker = "52-54-00-00-30-01";
    private const string Bootstrap = "52-54-00-00-10-01";

    private PreparedIgnition Prepared => Server.Server.Services.GetRequiredService<PreparedIgnition>();
    private ClusterAssetService Cluster => Server.Server.Services.GetRequiredService<ClusterAssetService>();

    /// <summary>Waits until the background pass has prepared configs for the current catalog and tokens.</summary>
    private Task PreparedAsync() => Eventually.That(() => Prepared.IsCurrent, "configs prepared for the current catalog and tokens");

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
    public async Task Pointers_and_the_real_config_come_from_the_prepared_config_without_rendering()
    {
        await PreparedAsync();
        var before = await RendersAsync();
        await Client.GetByteArrayAsync($"/ignition?mac={Worker}", Ct);
        await Client.GetByteArrayAsync($"/ignition?mac={Worker}", Ct);
        await Server.RealConfigAsync($"mac={Worker}", Ct);
        await Server.RealConfigAsync($"mac={Bootstrap}", Ct);
        Assert.Equal(before, await RendersAsync());
    }

    [Fact]
    public async Task Served_bytes_are_those_a_per_request_render_makes_plus_the_delivery_files()
    {
        await PreparedAsync();
        var catalog = Server.Server.Services.GetRequiredService<CatalogStore>().Current;
        var renderer = Server.Server.Services.GetRequiredService<IgnitionRenderer>();
        var i = 0;
        foreach (var machine in catalog.Profiles.Machines)
        {
            var mac = machine.Select.Macs[0].ToHexHyphen();
            // What /ignition did per request before configs were prepared.
            var material = await Cluster.MaterialForServingAsync(catalog, machine, Ct);
            var config = renderer.Render(catalog.Templates, catalog.Profiles, machine, catalog.Profiles.Cluster.ProvisionerUrl!, material);
            // Each machine's config is released once: each machine is asked in another spec version it can be expressed in.
            var fitting = IgnitionSpec.Supported.Where(v => v >= IgnitionSpec.MinimumVersion(config)).ToList();
            var version = fitting[i++ % fitting.Count];
            var served = await Server.RealConfigAsync($"mac={mac}", Ct, $"application/vnd.coreos.ignition+json;version={IgnitionSpec.Format(version)}, */*;q=0.1");
            var key = IgnitionFiles.Decode(served)["/etc/provisioner/report-key"].Text.Trim();
            var expected = IgnitionEndpoints.WithDeliveryFiles(config, key, "http://192.0.2.1:8080", machine.Name).WithVersion(version);
            Assert.Equal(IgnitionJson.Serialize(expected), served);
        }
    }

    [Theory]
    [InlineData("/ignition?mac=" + Worker)]
    [InlineData("/ipxe?mac=" + Worker)]
    public async Task Ticketed_scripts_and_pointers_are_never_cached(string url)
    {
        var response = await GetAsync(url);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Null(response.Headers.ETag);
        Assert.True(response.Headers.CacheControl!.NoStore);
        Assert.Equal(HttpStatusCode.OK, (await GetAsync(url, "*")).StatusCode);
    }

    [Fact]
    public async Task The_pointer_and_the_real_config_are_served_in_the_negotiated_version()
    {
        const string v35 = "application/vnd.coreos.ignition+json;version=3.5.0";
        var pointer = await Server.PointerAsync(await Server.IgnitionUrlAsync($"mac={Worker}", Ct), Ct, v35);
        using var real = await SecureIgnition.FetchMergedAsync(pointer, Ct, v35);
        Assert.Equal("3.5.0", pointer.Version);
        Assert.Contains("\"version\":\"3.5.0\"", await real.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task A_template_edit_changes_the_prepared_config()
    {
        await PreparedAsync();
        Assert.DoesNotContain("edited worker-0", await Server.RealConfigAsync($"mac={Worker}", Ct));
        Tree.WriteTemplate("worker/kubelet.service", "[Unit]\nDescription=edited {{ machine.name }}\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n");
        Assert.True(await Server.Server.Services.GetRequiredService<CatalogStore>().ReloadAsync(Ct));
        // At once after the reload, prepared or not.
        await Server.ReprovisionAsync("worker-0", Ct);
        Assert.Contains("edited worker-0", await Server.RealConfigAsync($"mac={Worker}", Ct));
        await PreparedAsync();
        await Server.ReprovisionAsync("worker-0", Ct);
        Assert.Contains("edited worker-0", await Server.RealConfigAsync($"mac={Worker}", Ct));
    }

    [Fact]
    public async Task A_revoked_token_is_not_served_again_and_the_serve_mints_a_new_one()
    {
        await PreparedAsync();
        var token = Cluster.Tokens.FindForMachine("worker-0")!;
        var workerBefore = await Server.RealConfigAsync($"mac={Worker}", Ct);
        var bootstrapBefore = await Server.RealConfigAsync($"mac={Bootstrap}", Ct);
        Assert.Contains(token.Id, IgnitionFiles.DecodeAll(workerBefore));
        Assert.Contains(token.Id, IgnitionFiles.DecodeAll(bootstrapBefore)); // its Secret is in the bootstrap machine's manifests

        // A reprovision revokes the machine's tokens (and lets it fetch again); the bootstrap machine is re-armed to look.
        await Server.ReprovisionAsync("worker-0", Ct);
        await Server.ReprovisionAsync("bootstrap-0", Ct);
        Assert.Null(Cluster.Tokens.FindForMachine("worker-0"));

        // No waiting: a token change makes every prepared config stale at once.
        var workerAfter = IgnitionFiles.DecodeAll(await Server.RealConfigAsync($"mac={Worker}", Ct));
        var minted = Cluster.Tokens.FindForMachine("worker-0")!;
        Assert.NotEqual(token.Id, minted.Id);
        Assert.DoesNotContain(token.Id, workerAfter);
        Assert.Contains(minted.Value, workerAfter);
        var bootstrapAfter = IgnitionFiles.DecodeAll(await Server.RealConfigAsync($"mac={Bootstrap}", Ct));
        Assert.DoesNotContain(token.Id, bootstrapAfter);
        Assert.Contains(minted.Id, bootstrapAfter);

        // And once prepared again, the new token is what is prepared.
        await PreparedAsync();
        var catalog = Server.Server.Services.GetRequiredService<CatalogStore>().Current;
        var prepared = await Prepared.GetAsync(catalog, catalog.Profiles.FindMachine("worker-0")!, "http://192.0.2.1:8080", Ct);
        Assert.Contains(minted.Value, IgnitionFiles.DecodeAll(IgnitionJson.Serialize(prepared.Config!.Config)));
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
        Assert.Contains(minted.Value, IgnitionFiles.DecodeAll(await Server.RealConfigAsync($"mac={Worker}", Ct)));
    }

    [Fact]
    public async Task The_delivery_is_on_disk_before_the_config_leaves_and_a_ticket_works_only_from_its_address()
    {
        var state = Server.Server.Services.GetRequiredService<MachineStateStore>();
        var pointer = await Server.PointerAsync(await Server.IgnitionUrlAsync($"mac={Worker}", Ct), Ct);

        // The ticket went to 127.0.0.1 (which asked /ipxe); 127.0.0.2 reaches the same server but is another address.
        using var fromOther = ClientFrom(IPAddress.Parse("127.0.0.2"), pointer.CaPem);
        using var stolen = await fromOther.GetAsync(pointer.MergeSource, Ct);
        Assert.Equal(HttpStatusCode.Forbidden, stolen.StatusCode);
        Assert.Contains("issued to 127.0.0.1", await stolen.Content.ReadAsStringAsync(Ct));
        Assert.Empty(OnDisk(state).Deliveries);

        using var delivered = await SecureIgnition.FetchMergedAsync(pointer, Ct);
        Assert.Equal(HttpStatusCode.OK, delivered.StatusCode);
        var onDisk = OnDisk(state);
        Assert.Equal("127.0.0.1", Assert.Single(onDisk.Deliveries).Address);
        Assert.Equal("127.0.0.1", Assert.Single(onDisk.UsedTickets).UsedBy);
        Assert.NotNull(onDisk.ReportKeyHash);
    }

    private static MachineState OnDisk(MachineStateStore live)
    {
        var store = MachineStateStore.OpenAsync(live.FilePath, TimeProvider.System, CancellationToken.None).GetAwaiter().GetResult();
        return store.Get("worker-0")!;
    }

    /// <summary>A TLS client trusting <paramref name="caPem"/> whose connections come from <paramref name="source"/> (any 127.0.0.0/8 address reaches the server).</summary>
    private static HttpClient ClientFrom(IPAddress source, string caPem)
    {
        var ca = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPem(caPem);
        return new(new SocketsHttpHandler
        {
            ConnectCallback = async (context, ct) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                socket.Bind(new IPEndPoint(source, 0));
                await socket.ConnectAsync(context.DnsEndPoint, ct);
                return new NetworkStream(socket, ownsSocket: true);
            },
            SslOptions = new System.Net.Security.SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                {
                    using var chain = new System.Security.Cryptography.X509Certificates.X509Chain();
                    chain.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
                    return certificate is System.Security.Cryptography.X509Certificates.X509Certificate2 c && chain.Build(c);
                },
            },
        });
    }

    [Fact]
    public async Task Ipxe_scripts_are_built_once_per_query()
    {
        var first = WithoutTicket(await Client.GetStringAsync($"/ipxe?mac={Worker}&arch=x86_64", Ct));
        var builds = await IpxeRendersAsync();
        // Only the one-time ticket differs between two answers.
        Assert.Equal(first, WithoutTicket(await Client.GetStringAsync($"/ipxe?mac={Worker}&arch=x86_64", Ct)));
        Assert.Equal(builds, await IpxeRendersAsync());
        // The script repeats the identity the machine sent, so another query is another script.
        var withSerial = Encoding.UTF8.GetString(await Client.GetByteArrayAsync($"/ipxe?mac={Worker}&serial=DEMO-W0", Ct));
        Assert.Contains("serial=DEMO-W0", withSerial);
    }

    private static string WithoutTicket(string script) => Regex.Replace(script, "ticket=[A-Za-z0-9_-]+", "ticket=T");

    private async Task<double> IpxeRendersAsync()
    {
        var metrics = await Client.GetStringAsync("/metrics", Ct);
        var line = metrics.Split('\n').Single(l => l.StartsWith("provisioner_ipxe_renders_total ", StringComparison.Ordinal));
        return double.Parse(line.Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
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

    /// <summary>The bootstrap machine's bootkube.sh as it gets it when it reaches us as <paramref name="host"/>: ipxe → pointer → TLS.</summary>
    private async Task<(string Bootkube, Uri MergeSource)> BootkubeVia(string host)
    {
        using var ipxe = new HttpRequestMessage(HttpMethod.Get, "/ipxe?mac=52-54-00-00-10-01");
        ipxe.Headers.Host = host;
        var script = await (await _server.Client.SendAsync(ipxe, Ct)).Content.ReadAsStringAsync(Ct);
        var url = new Uri(Regex.Match(script, @"(?:ignition\.config\.url|coreos\.inst\.ignition_url)=(\S+)").Groups[1].Value);
        Assert.Equal(host, url.Authority);
        using var request = new HttpRequestMessage(HttpMethod.Get, url.PathAndQuery);
        request.Headers.Host = host;
        var response = await _server.Client.SendAsync(request, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var doc = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        var ignition = doc.RootElement.GetProperty("ignition");
        var source = new Uri(ignition.GetProperty("config").GetProperty("merge")[0].GetProperty("source").GetString()!);
        var ca = Encoding.UTF8.GetString(Convert.FromBase64String(ignition.GetProperty("security").GetProperty("tls")
            .GetProperty("certificateAuthorities")[0].GetProperty("source").GetString()!["data:;base64,".Length..]));
        using var tls = SecureIgnition.PinnedClient(ca);
        var real = await tls.GetStringAsync(source, Ct); // by the name in the URL: the serving certificate names localhost and 127.0.0.1
        await SecureIgnition.ReprovisionAsync(_server, "bootstrap-0", Ct);
        return (IgnitionFiles.Decode(real)["/usr/local/bin/bootkube.sh"].Text, source);
    }

    [Fact]
    public async Task Each_base_url_gets_its_own_config_every_time()
    {
        var port = _server.BaseAddress.Port;
        var tlsPort = _server.Server.TlsBaseAddress.Port;
        for (var round = 0; round < 2; round++)
        {
            var (viaIp, ipSource) = await BootkubeVia($"127.0.0.1:{port}");
            var (viaName, nameSource) = await BootkubeVia($"localhost:{port}");
            Assert.Contains($"http://127.0.0.1:{port}/api/v1/progress", viaIp);
            Assert.Contains($"http://localhost:{port}/api/v1/progress", viaName);
            Assert.Equal($"127.0.0.1:{tlsPort}", ipSource.Authority);
            Assert.Equal($"localhost:{tlsPort}", nameSource.Authority);
            // The next round is served from what the background pass prepared for both base URLs.
            await Eventually.That(() => _server.Server.Services.GetRequiredService<PreparedIgnition>().IsCurrent, "configs prepared for both base URLs");
        }
    }
}
