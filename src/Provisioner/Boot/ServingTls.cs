using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Provisioner.Catalog;
using Provisioner.Pki;
using Provisioner.Primitives;

namespace Provisioner.Boot;

/// <summary>
/// What the TLS listener is made of: where it listens, where the plain-HTTP listener is (for the names the serving
/// certificate must carry), the cluster directory holding the Provisioner CA, or the operator's own certificate.
/// </summary>
internal sealed record TlsListenerOptions(IReadOnlyList<IPEndPoint> TlsListen, IReadOnlyList<IPEndPoint> HttpListen, string ClusterDirectory,
    string? CertificateFile = null, string? KeyFile = null);

/// <summary>
/// The TLS listener's identity and addresses. On start it loads (or creates) the Provisioner CA and the serving
/// certificate in <c>&lt;cluster-dir&gt;/tls/</c>, for every name machines may use (see <see cref="SubjectNames"/>), or
/// loads the operator's certificate. The pointer config pins <see cref="CaCertificatePem"/> and names
/// <see cref="TlsBaseFor"/>; the real config's <c>provisioner.env</c> names <see cref="HttpBaseFor"/>.
/// </summary>
internal sealed class ServingTls(TlsListenerOptions options, CatalogStore catalog, IServer server, ILogger<ServingTls> logger) : IHostedService
{
    private ServingIdentity? _identity;

    private ServingIdentity Identity => _identity ?? throw new InvalidOperationException("the TLS identity is loaded when the server starts");

    /// <summary>The certificate Kestrel presents on the TLS listener.</summary>
    public X509Certificate2 Certificate => Identity.ServingCertificate;

    /// <summary>The CA machines pin (the Provisioner CA, or the top of the operator's chain), PEM.</summary>
    public string CaCertificatePem => Identity.CaCertificatePem;

    public string TlsDirectory => Path.Combine(options.ClusterDirectory, "tls");

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (options.CertificateFile is { } certFile)
        {
            _identity = ProvisionerCa.FromOperatorFiles(certFile, options.KeyFile!);
            logger.LogInformation("TLS listener uses the certificate in {File}; machines pin the last certificate of that file", certFile);
            return;
        }
        var (dns, ips) = SubjectNames(catalog.Current.Profiles.Cluster.ProvisionerUrl);
        _identity = await ProvisionerCa.EnsureAsync(TlsDirectory, dns, ips, new PkiOptions(), cancellationToken);
        if (_identity.Note is { } note) logger.LogWarning("Provisioner CA: {Note}", note);
        logger.LogInformation("TLS listener certificate from the Provisioner CA {File}, for {Names}", ProvisionerCa.CaCertificatePath(TlsDirectory),
            string.Join(", ", dns.Concat(ips.Select(i => i.ToString()))));
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>
    /// Every name a machine may reach us by: the provisionerUrl host, each listen address (for a wildcard listen, every
    /// address of this host's interfaces), and localhost.
    /// </summary>
    public (IReadOnlyList<string> Dns, IReadOnlyList<IPAddress> Ips) SubjectNames(Uri? provisionerUrl)
    {
        var dns = new List<string> { "localhost" };
        var ips = new List<IPAddress> { IPAddress.Loopback, IPAddress.IPv6Loopback };
        if (provisionerUrl is not null)
        {
            if (IPAddress.TryParse(provisionerUrl.Host.Trim('[', ']'), out var ip)) ips.Add(ip);
            else dns.Add(provisionerUrl.Host);
        }
        foreach (var endpoint in options.TlsListen.Concat(options.HttpListen))
        {
            if (endpoint.Address.Equals(IPAddress.Any) || endpoint.Address.Equals(IPAddress.IPv6Any))
                ips.AddRange(NetworkInterface.GetAllNetworkInterfaces().SelectMany(n => n.GetIPProperties().UnicastAddresses)
                    .Select(a => a.Address).Where(a => a.AddressFamily == AddressFamily.InterNetwork || (a.AddressFamily == AddressFamily.InterNetworkV6 && !a.IsIPv6LinkLocal)));
            else ips.Add(endpoint.Address);
        }
        return (dns, ips);
    }

    /// <summary>
    /// <c>https://host:port</c> for a machine whose plain-HTTP base URL is <paramref name="httpBase"/>: the same host,
    /// the port of the TLS listener that serves the address the request came in on.
    /// </summary>
    public string TlsBaseFor(HttpContext context, string httpBase)
    {
        var port = PortFor("https", context.Connection.LocalIpAddress);
        var last = _lastTlsBase;
        if (last is not null && last.Port == port && string.Equals(last.HttpBase, httpBase, StringComparison.Ordinal)) return last.TlsBase;
        var tlsBase = $"https://{new Uri(httpBase).Host}:{port}"; // Uri.Host keeps IPv6 brackets
        _lastTlsBase = new KnownTlsBase(httpBase, port, tlsBase);
        return tlsBase;
    }

    // Almost every request names the same plain base (the provisionerUrl), so the last answer is kept.
    private sealed record KnownTlsBase(string HttpBase, int Port, string TlsBase);

    private volatile KnownTlsBase? _lastTlsBase;

    /// <summary>The plain-HTTP base URL for a request on the TLS listener: the configured provisionerUrl, else the same host on the plain listener's port.</summary>
    public string HttpBaseFor(HttpContext context) =>
        catalog.Current.Profiles.Cluster.ProvisionerUrl is { } configured
            ? ProvisionerUrls.Authority(configured)
            : $"http://{HostOnly(context.Request.Host)}:{PortFor("http", context.Connection.LocalIpAddress)}";

    private static string HostOnly(HostString host) => host.Host.Contains(':') && !host.Host.StartsWith('[') ? $"[{host.Host}]" : host.Host;

    private sealed record BoundListener(string Scheme, IPAddress? Address, int Port);

    // What Kestrel bound is known once it listens, and fixed from then on.
    private IReadOnlyList<BoundListener>? _bound;

    private IReadOnlyList<BoundListener> Bound()
    {
        if (_bound is { } known) return known;
        var addresses = server.Features.Get<IServerAddressesFeature>()?.Addresses;
        if (addresses is null || addresses.Count == 0) return [];
        return _bound = [.. addresses.Select(a => new Uri(a)).Select(u => new BoundListener(u.Scheme,
            IPAddress.TryParse(u.Host.Trim('[', ']'), out var ip) ? ip : null, u.Port))];
    }

    /// <summary>The bound port of the listener with <paramref name="scheme"/> on <paramref name="local"/> (or on a wildcard), else the first one.</summary>
    private int PortFor(string scheme, IPAddress? local)
    {
        BoundListener? first = null, wildcard = null;
        local = local is { IsIPv4MappedToIPv6: true } ? local.MapToIPv4() : local;
        foreach (var listener in Bound())
        {
            if (listener.Scheme != scheme) continue;
            if (listener.Address is not null && listener.Address.Equals(local)) return listener.Port;
            first ??= listener;
            if (listener.Address is null || listener.Address.Equals(IPAddress.Any) || listener.Address.Equals(IPAddress.IPv6Any)) wildcard ??= listener;
        }
        if (wildcard is not null) return wildcard.Port;
        if (first is not null) return first.Port;
        // No socket bound (an in-memory test server): the configured port is the best answer there is.
        var configured = scheme == "https" ? options.TlsListen : options.HttpListen;
        return configured.Count > 0 ? configured[0].Port : scheme == "https" ? 8443 : 8080;
    }
}

/// <summary>
/// Where the plain-HTTP and TLS listeners are. The composition decides them when the server starts (their defaults
/// follow the profiles' provisionerUrl, so they cannot be known while the server is being composed).
/// </summary>
internal sealed record ListenEndpoints(IReadOnlyList<IPEndPoint> Http, IReadOnlyList<IPEndPoint> Tls);

/// <summary>The operator's own serving certificate as configuration holds it (property names are the settings' keys).</summary>
internal sealed class ServingTlsConfiguration
{
    public string? TlsCert { get; set; }
    public string? TlsKey { get; set; }

    /// <summary>The certificate and its key come together or not at all; null when they do.</summary>
    public static string? PairProblem(string? certificate, string? key) =>
        (certificate is null) == (key is null) ? null
        : certificate is null ? "--tls-key: give --tls-cert with it" : "--tls-cert: give --tls-key with it";
}

internal sealed class ServingTlsStartupCheck : IValidateOptions<ServingTlsConfiguration>
{
    public ValidateOptionsResult Validate(string? name, ServingTlsConfiguration options) =>
        ServingTlsConfiguration.PairProblem(options.TlsCert, options.TlsKey) is { } problem ? ValidateOptionsResult.Fail(problem) : ValidateOptionsResult.Success;
}

internal static class SecretDeliveryServiceCollectionExtensions
{
    /// <summary>
    /// Registers the TLS listener's identity (<c>tlsCert</c>/<c>tlsKey</c>, checked at start), boot tickets and
    /// once-per-round delivery, and the arming of machines new to the profiles (after the machine state store and the
    /// cluster assets, which they use at start). Needs <see cref="ListenEndpoints"/> and the
    /// <see cref="ClusterDirectoryPath"/> registered; <see cref="DeliveryOptions"/> are the defaults unless registered before.
    /// </summary>
    public static IServiceCollection AddSecretDelivery(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ServingTlsConfiguration>().Bind(configuration).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ServingTlsConfiguration>, ServingTlsStartupCheck>());
        services.AddSingleton(sp =>
        {
            var files = sp.GetRequiredService<IOptions<ServingTlsConfiguration>>().Value;
            var listen = sp.GetRequiredService<ListenEndpoints>();
            return new TlsListenerOptions(listen.Tls, listen.Http, sp.GetRequiredService<ClusterDirectoryPath>().FullPath, files.TlsCert, files.TlsKey);
        });
        services.TryAddSingleton(new DeliveryOptions());
        services.AddSingleton<ServingTls>();
        services.AddHostedService(sp => sp.GetRequiredService<ServingTls>());
        services.AddSingleton<TicketSeal>();
        services.AddHostedService(sp => sp.GetRequiredService<TicketSeal>());
        services.AddSingleton<SecretDelivery>();
        services.AddSingleton<NewMachineArming>();
        services.AddHostedService(sp => sp.GetRequiredService<NewMachineArming>());
        return services;
    }
}
