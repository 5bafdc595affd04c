using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;

namespace Provisioner.Tests.Support;

/// <summary>
/// The pointer config plain HTTP serves: where it merges the real config from (<see cref="DeclaredSource"/>, as
/// written; <see cref="MergeSource"/>, the same path and query on this test's TLS listener, since the example profiles'
/// provisionerUrl is not a test address), and the CA it pins (PEM).
/// </summary>
internal sealed record Pointer(string Json, string Version, Uri DeclaredSource, Uri MergeSource, string CaPem);

/// <summary>
/// A machine's boot as Ignition walks it: <c>/ipxe</c> (mints the ticket) → the pointer over plain HTTP → the real
/// config over TLS, trusting only the CA the pointer pins. One helper, so tests that need a machine's real config
/// take it the way a machine does.
/// </summary>
internal static partial class SecureIgnition
{
    /// <summary>The Ignition URL of the machine's iPXE script (a fresh ticket in it): what the kernel gets as ignition.config.url.</summary>
    public static async Task<Uri> IgnitionUrlAsync(this RunningServer server, string selectors, CancellationToken ct)
    {
        var script = await server.Client.GetStringAsync("/ipxe?" + selectors, ct);
        var match = IgnitionUrl().Match(script);
        Assert.True(match.Success, "the iPXE script has no ignition.config.url:\n" + script);
        return new Uri(match.Groups[1].Value);
    }

    /// <summary>GETs <paramref name="url"/> over plain HTTP (any host/port is rewritten to this server's) and parses the pointer.</summary>
    public static async Task<Pointer> PointerAsync(this RunningServer server, Uri url, CancellationToken ct, string? accept = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, url.PathAndQuery);
        if (accept is not null) request.Headers.Accept.ParseAdd(accept);
        using var response = await server.Client.SendAsync(request, ct);
        var json = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"pointer {url}: {(int)response.StatusCode} {json}");
        using var doc = JsonDocument.Parse(json);
        var ignition = doc.RootElement.GetProperty("ignition");
        var source = ignition.GetProperty("config").GetProperty("merge")[0].GetProperty("source").GetString()!;
        var ca = ignition.GetProperty("security").GetProperty("tls").GetProperty("certificateAuthorities")[0].GetProperty("source").GetString()!;
        Assert.StartsWith("data:;base64,", ca);
        var declared = new Uri(source);
        return new Pointer(json, ignition.GetProperty("version").GetString()!, declared, new Uri(server.Server.TlsBaseAddress, declared.PathAndQuery),
            Encoding.UTF8.GetString(Convert.FromBase64String(ca["data:;base64,".Length..])));
    }

    /// <summary>An HttpClient that trusts exactly <paramref name="caPem"/> (no system roots), as Ignition does with a pinned CA.</summary>
    public static HttpClient PinnedClient(string caPem)
    {
        var ca = X509Certificate2.CreateFromPem(caPem);
        var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, _, _) =>
            {
                if (certificate is null) return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                // The host name was checked by SslStream already (a mismatch arrives as an error we do not clear here).
                return chain.Build(certificate);
            },
        };
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>GETs the real config the pointer names, over TLS with its pinned CA.</summary>
    public static async Task<HttpResponseMessage> FetchMergedAsync(Pointer pointer, CancellationToken ct, string? accept = null)
    {
        using var client = PinnedClient(pointer.CaPem);
        using var request = new HttpRequestMessage(HttpMethod.Get, pointer.MergeSource);
        if (accept is not null) request.Headers.Accept.ParseAdd(accept);
        var response = await client.SendAsync(request, ct);
        await response.Content.LoadIntoBufferAsync(ct);
        return response;
    }

    /// <summary>
    /// The machine's real config the way Ignition gets it: ipxe → pointer → merge over TLS. Fails unless the TLS
    /// fetch is 200 (the machine must be armed and not yet provisioned in this round).
    /// </summary>
    public static async Task<string> RealConfigAsync(this RunningServer server, string selectors, CancellationToken ct, string? accept = null)
    {
        var pointer = await server.PointerAsync(await server.IgnitionUrlAsync(selectors, ct), ct, accept);
        using var response = await FetchMergedAsync(pointer, ct, accept);
        var body = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"real config for {selectors}: {(int)response.StatusCode} {body}");
        return body;
    }

    /// <summary>Starts a new provisioning round for <paramref name="machine"/> (as <c>provisioner machines reprovision</c> does), from loopback.</summary>
    public static async Task ReprovisionAsync(this RunningServer server, string machine, CancellationToken ct)
    {
        using var content = new StringContent("{}", new MediaTypeHeaderValue("application/json"));
        using var response = await server.Client.PostAsync($"/api/v1/machines/{machine}/reprovision", content, ct);
        Assert.True(response.IsSuccessStatusCode, $"reprovision {machine}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
    }

    /// <summary>The real config for the Ignition URL of an iPXE script the test fetched itself (no further /ipxe request).</summary>
    public static async Task<string> RealConfigFromScriptAsync(this RunningServer server, string ipxeScript, CancellationToken ct)
    {
        var match = IgnitionUrl().Match(ipxeScript);
        Assert.True(match.Success, "the iPXE script has no ignition.config.url:\n" + ipxeScript);
        var pointer = await server.PointerAsync(new Uri(match.Groups[1].Value), ct);
        using var response = await FetchMergedAsync(pointer, ct);
        var body = await response.Content.ReadAsStringAsync(ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"real config: {(int)response.StatusCode} {body}");
        return body;
    }

    /// <summary>The report key a real config carries (what the machine's units send as their bearer token).</summary>
    public static string ReportKeyIn(string realConfig)
    {
        using var doc = JsonDocument.Parse(realConfig);
        var file = doc.RootElement.GetProperty("storage").GetProperty("files").EnumerateArray()
            .Single(f => f.GetProperty("path").GetString() == "/etc/provisioner/report-key");
        var source = file.GetProperty("contents").GetProperty("source").GetString()!;
        return Encoding.UTF8.GetString(Provisioner.Ignition.DataUrl.Decode(new Provisioner.Ignition.Resource { Source = source })).Trim();
    }

    /// <summary>Posts a progress report for <paramref name="machine"/> with its report key, as its units do.</summary>
    public static async Task ReportAsync(this RunningServer server, string machine, string reportKey, string stage, string detail, CancellationToken ct)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/progress")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { machine, stage, detail }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", reportKey);
        using var response = await server.Client.SendAsync(request, ct);
        Assert.True(response.StatusCode == HttpStatusCode.NoContent, $"progress {machine} {stage}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
    }

    [GeneratedRegex(@"(?:ignition\.config\.url|coreos\.inst\.ignition_url)=(\S+)")]
    private static partial Regex IgnitionUrl();
}
