using System.Collections.Concurrent;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Provisioner.Tests.Support;

/// <summary>
/// A hand-made pointer flow on real Kestrel, as the contract between Provisioner's plain and TLS listeners has it,
/// for testing the machine side (the test initramfs, the real Ignition) on its own: plain HTTP
/// <c>GET /ignition?…&amp;ticket=T</c> answers a pointer config that pins <see cref="PinnedCaPem"/> and merges
/// <c>https://HOST:TLSPORT/ignition?…&amp;ticket=T</c> (the same query); the TLS listener, whose certificate
/// <see cref="CaPem"/> issued for <see cref="ServerAddresses"/>, releases the real config once per ticket (then 410 Gone
/// with when and to whom), and 403 without a known ticket. <c>POST /api/v1/progress</c> is recorded with its
/// Authorization header. Every request is recorded with its Accept header.
/// </summary>
internal sealed class PointerOrigin : IAsyncDisposable
{
    /// <summary>The addresses the serving certificate names: QEMU user networking's host alias and loopback.</summary>
    public static readonly IPAddress[] ServerAddresses = [IPAddress.Parse("10.0.2.2"), IPAddress.Loopback];

    public sealed record Request(bool Tls, string Method, string PathAndQuery, string Accept, string Authorization, string Body, int Status);

    private readonly ConcurrentQueue<Request> _requests = new();
    private readonly ConcurrentDictionary<string, (DateTimeOffset At, string To)> _delivered = new(StringComparer.Ordinal);
    private WebApplication _app = null!;

    private PointerOrigin(string realConfig, string caPem, X509Certificate2 serving)
    {
        RealConfig = realConfig;
        CaPem = caPem;
        PinnedCaPem = caPem;
        _serving = serving;
    }

    private readonly X509Certificate2 _serving;

    /// <summary>The config the TLS listener releases.</summary>
    public string RealConfig { get; }

    /// <summary>The CA that issued the TLS listener's certificate (PEM).</summary>
    public string CaPem { get; }

    /// <summary>The CA the pointer pins; another than <see cref="CaPem"/> to test a wrong pin.</summary>
    public string PinnedCaPem { get; set; }

    /// <summary>Tickets the TLS listener knows; a delivery uses one up.</summary>
    public HashSet<string> Tickets { get; } = new(StringComparer.Ordinal);

    /// <summary>When set, what the plain listener answers instead of <see cref="Pointer"/> (a forged or stale pointer).</summary>
    public string? PointerOverride { get; set; }

    /// <summary>The pointer's spec version (what it would negotiate for the asking Ignition).</summary>
    public string PointerVersion { get; set; } = "3.4.0";

    /// <summary>Host (as machines reach this server) and ports.</summary>
    public string AdvertisedHost { get; set; } = "10.0.2.2";
    public int HttpPort { get; private set; }
    public int TlsPort { get; private set; }

    public IReadOnlyList<Request> Requests => [.. _requests];

    public string PointerUrl(string query) => $"http://{AdvertisedHost}:{HttpPort}/ignition?{query}";

    /// <summary>The pointer config served for <paramref name="query"/> (also what the plain listener answers).</summary>
    public string Pointer(string query) => new JsonObject
    {
        ["ignition"] = new JsonObject
        {
            ["version"] = PointerVersion,
            ["config"] = new JsonObject
            {
                ["merge"] = new JsonArray(new JsonObject { ["source"] = $"https://{AdvertisedHost}:{TlsPort}/ignition?{query}" }),
            },
            ["security"] = new JsonObject
            {
                ["tls"] = new JsonObject
                {
                    ["certificateAuthorities"] = new JsonArray(new JsonObject
                    {
                        ["source"] = "data:;base64," + Convert.ToBase64String(Encoding.ASCII.GetBytes(PinnedCaPem)),
                    }),
                },
            },
        },
    }.ToJsonString();

    public static async Task<PointerOrigin> StartAsync(IPAddress listen, string realConfig, CancellationToken cancellationToken)
    {
        var (caPem, serving) = IssueServingCertificate(ServerAddresses.Append(listen).Distinct());
        var origin = new PointerOrigin(realConfig, caPem, serving);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(listen, 0);
            k.Listen(listen, 0, o => o.UseHttps(new HttpsConnectionAdapterOptions { ServerCertificate = serving }));
        });
        var app = builder.Build();
        app.MapGet("/ignition", origin.IgnitionAsync);
        app.MapPost("/api/v1/progress", origin.ProgressAsync);
        await app.StartAsync(cancellationToken);
        origin._app = app;
        foreach (var address in app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses)
        {
            var uri = new Uri(address);
            if (uri.Scheme == "https") origin.TlsPort = uri.Port;
            else origin.HttpPort = uri.Port;
        }
        return origin;
    }

    /// <summary>A CA (PEM) of its own, unrelated to any server: what a wrong pin looks like.</summary>
    public static string UnrelatedCaPem() => IssueServingCertificate([IPAddress.Loopback]).CaPem;

    private async Task IgnitionAsync(HttpContext context)
    {
        var ticket = context.Request.Query["ticket"].ToString();
        var (status, body, contentType) = context.Request.IsHttps ? Deliver(ticket, context) : (200, PointerOverride ?? Pointer(context.Request.QueryString.Value!.TrimStart('?')), "application/vnd.coreos.ignition+json;version=" + PointerVersion);
        Record(context, status, "");
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        await context.Response.WriteAsync(body, context.RequestAborted);
    }

    private (int, string, string) Deliver(string ticket, HttpContext context)
    {
        lock (_delivered)
        {
            if (!Tickets.Contains(ticket)) return (403, "no valid boot ticket: boot the machine through /ipxe for a fresh one\n", "text/plain");
            if (_delivered.TryGetValue(ticket, out var earlier))
                return (410, $"this machine's config was already delivered at {earlier.At:u} to {earlier.To}; reprovision it to deliver again\n", "text/plain");
            _delivered[ticket] = (DateTimeOffset.UtcNow, context.Connection.RemoteIpAddress?.ToString() ?? "?");
            return (200, RealConfig, "application/vnd.coreos.ignition+json");
        }
    }

    private async Task ProgressAsync(HttpContext context)
    {
        using var reader = new StreamReader(context.Request.Body);
        var body = await reader.ReadToEndAsync(context.RequestAborted);
        Record(context, 200, body);
        await context.Response.WriteAsync("{}", context.RequestAborted);
    }

    private void Record(HttpContext context, int status, string body) =>
        _requests.Enqueue(new Request(context.Request.IsHttps, context.Request.Method, context.Request.Path + context.Request.QueryString,
            context.Request.Headers.Accept.ToString(), context.Request.Headers.Authorization.ToString(), body, status));

    private static (string CaPem, X509Certificate2 Serving) IssueServingCertificate(IEnumerable<IPAddress> addresses)
    {
        var now = DateTimeOffset.UtcNow;
        using var caKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var caRequest = new CertificateRequest("CN=pointer-origin-test-ca", caKey, HashAlgorithmName.SHA256);
        caRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        caRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        caRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(caRequest.PublicKey, false));
        using var ca = caRequest.CreateSelfSigned(now.AddHours(-1), now.AddDays(1));

        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=pointer-origin", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        foreach (var address in addresses) names.AddIpAddress(address);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        using var issued = request.Create(ca, now.AddHours(-1), now.AddDays(1), RandomNumberGenerator.GetBytes(16));
        using var withKey = issued.CopyWithPrivateKey(key);
        // Re-imported from PKCS#12 so that SslStream can use the key (an ephemeral key cannot serve TLS on every platform).
        var serving = X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
        return (ca.ExportCertificatePem() + "\n", serving);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.DisposeAsync();
        _serving.Dispose();
    }
}
