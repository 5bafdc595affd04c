using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Provisioner.Assets;
using Provisioner.Catalog;
using Provisioner.Pxe.Dhcp;
using Provisioner.Pxe.Tftp;
using Provisioner.Primitives;

namespace Provisioner.Pxe;

/// <summary>
/// Wires TFTP and ProxyDHCP into the server from configuration. Registering touches neither the disk nor the network
/// interfaces: what depends on the host (the iPXE files, the TFTP root, the interface) is checked when the server
/// starts, by <see cref="PxeStartupCheck"/>, and reported as one clear line naming the setting to fix.
/// </summary>
internal static class PxeHosting
{
    /// <summary>The resolved PXE options and iPXE binaries (name → path), found when the server starts.</summary>
    public sealed record ResolvedPxe(PxeOptions Options, IReadOnlyDictionary<string, string> Binaries);

    /// <summary>Registered when TFTP or ProxyDHCP is asked for, so that <see cref="MapPxe"/> can tell without resolving anything.</summary>
    private sealed record PxeRequested;

    public static IServiceCollection AddPxe(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<PxeConfiguration>().Bind(configuration).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<PxeConfiguration>, PxeStartupCheck>());
        // Which services to register is read from the configuration's text alone; their values are bound and
        // checked at start, before any of them is resolved.
        if (!PxeConfiguration.Requested(configuration)) return services;
        services.AddSingleton(new PxeRequested());
        services.AddSingleton(sp =>
        {
            var options = sp.GetRequiredService<IOptions<PxeConfiguration>>().Value.ToOptions()!;
            return new ResolvedPxe(options, PxeStartupCheck.FindBinaries(options));
        });

        if (configuration["tftp"] is not null)
        {
            services.AddHostedService(sp =>
            {
                var (options, binaries) = sp.GetRequiredService<ResolvedPxe>();
                // 256 sessions: a rack powering on at once must not be refused; each session holds one window (~23 KB at
                // blksize 1428 × windowsize 16), so the bound stays a few MB.
                var tftpOptions = new TftpOptions(options.Tftp!, options.TftpRoot is { } r ? [r] : [], MaxSessions: 256) { Files = binaries };
                return new TftpHostedService(tftpOptions, sp.GetRequiredService<ILogger<TftpServer>>());
            });
        }

        if (configuration["proxyDhcp"] is not null)
        {
            services.AddSingleton(sp =>
            {
                var (options, binaries) = sp.GetRequiredService<ResolvedPxe>();
                return new ProxyDhcpResponder(new ProxyDhcpSettings(binaries.Keys.ToHashSet(StringComparer.Ordinal), options.UefiBootFile, options.ChainFirst),
                    sp.GetRequiredService<TimeProvider>());
            });
            services.AddHostedService(sp =>
            {
                var (options, _) = sp.GetRequiredService<ResolvedPxe>();
                var name = options.ProxyDhcpInterface!;
                var server = sp.GetRequiredService<IServer>();
                var catalog = sp.GetRequiredService<CatalogStore>();
                var serverOptions = new ProxyDhcpServerOptions(name, InterfaceAddress(name), ip => HttpBase(ip, server, catalog)) { TftpPort = options.Tftp!.Port };
                return new ProxyDhcpServer(serverOptions, sp.GetRequiredService<ProxyDhcpResponder>(), sp.GetRequiredService<ILogger<ProxyDhcpServer>>());
            });
        }
        return services;
    }

    /// <summary>Maps <c>/pxe/{name}</c> (iPXE binaries over HTTP) when a PXE service is on; the files are looked up per request.</summary>
    public static void MapPxe(this WebApplication app)
    {
        if (app.Services.GetService<PxeRequested>() is not null)
            app.MapPxeBinaries(services => services.GetRequiredService<ResolvedPxe>().Binaries);
    }

    /// <summary>The first IPv4 address of the named interface; the error lists the interfaces that do exist.</summary>
    public static IPAddress InterfaceAddress(string name)
    {
        var all = NetworkInterface.GetAllNetworkInterfaces();
        var nic = all.FirstOrDefault(n => n.Name == name)
                  ?? throw new SettingsException($"--proxy-dhcp: no network interface '{name}' (interfaces: {string.Join(", ", all.Select(n => n.Name).Order(StringComparer.Ordinal))})");
        return nic.GetIPProperties().UnicastAddresses.Select(a => a.Address).FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork)
               ?? throw new SettingsException($"--proxy-dhcp: interface '{name}' has no IPv4 address");
    }

    /// <summary>
    /// The base URL a client on the interface can use: the profiles' provisionerUrl when set, else a Kestrel
    /// listener on the interface's address or on the wildcard address. Null when Kestrel listens elsewhere only.
    /// </summary>
    private static Uri? HttpBase(IPAddress interfaceAddress, IServer server, CatalogStore catalog)
    {
        if (catalog.Current.Profiles.Cluster.ProvisionerUrl is { } configured) return new Uri(configured.GetLeftPart(UriPartial.Authority) + "/");
        foreach (var text in server.Features.Get<IServerAddressesFeature>()?.Addresses ?? [])
        {
            if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme != Uri.UriSchemeHttp) continue;
            if (!IPAddress.TryParse(uri.Host.Trim('[', ']'), out var host)) continue;
            if (host.Equals(interfaceAddress) || host.Equals(IPAddress.Any) || host.Equals(IPAddress.IPv6Any))
                return new Uri($"http://{interfaceAddress}:{uri.Port}/");
        }
        return null;
    }
}

/// <summary>
/// Checks the PXE settings when the server starts (<c>ValidateOnStart</c>): their syntax, then what depends on the
/// host — the iPXE binaries, the TFTP root, the ProxyDHCP interface and its address. Stops at the first problem, as
/// later checks build on earlier ones; the failure is one line naming the flag.
/// </summary>
internal sealed class PxeStartupCheck : IValidateOptions<PxeConfiguration>
{
    private const string Hint = "install Debian's 'ipxe' package or point --ipxe-dir at a directory holding them";

    public ValidateOptionsResult Validate(string? name, PxeConfiguration configuration)
    {
        try
        {
            if (configuration.ToOptions() is { Enabled: true } options) CheckHost(options);
            return ValidateOptionsResult.Success;
        }
        catch (SettingsException e)
        {
            return ValidateOptionsResult.Fail(e.Message);
        }
    }

    private static void CheckHost(PxeOptions options)
    {
        FindBinaries(options);
        if (options.Tftp is not null && options.TftpRoot is { } root && !Directory.Exists(root))
            throw new SettingsException($"--tftp-root: '{root}' does not exist");
        if (options.ProxyDhcpInterface is { } name)
        {
            if (options.Tftp is null)
                throw new SettingsException("--proxy-dhcp sends PXE firmware to TFTP for iPXE: also give --tftp (e.g. --tftp 0.0.0.0)");
            var address = PxeHosting.InterfaceAddress(name);
            // next-server is our address on the interface, so TFTP must listen there.
            if (!options.Tftp.Address.Equals(IPAddress.Any) && !options.Tftp.Address.Equals(IPAddress.IPv6Any) && !options.Tftp.Address.Equals(address))
                throw new SettingsException($"--tftp: PXE clients on '{name}' are sent to {address}, but TFTP listens on {options.Tftp.Address}; use --tftp 0.0.0.0 or --tftp {address}");
        }
    }

    public static IReadOnlyDictionary<string, string> FindBinaries(PxeOptions options)
    {
        var dir = options.IpxeDirectory;
        if (!Directory.Exists(dir))
            throw new SettingsException($"--ipxe-dir: '{dir}' does not exist; {Hint}");
        var binaries = IpxeBinaries.Find(dir);
        if (binaries.Count == 0)
            throw new SettingsException($"--ipxe-dir: no iPXE binaries ({string.Join(", ", IpxeBinaries.WellKnownNames)}) in '{dir}'; {Hint}");
        if (options.ProxyDhcpInterface is not null && !binaries.ContainsKey(options.UefiBootFile))
            throw new SettingsException($"--uefi-boot-file: '{options.UefiBootFile}' is not in '{dir}'; {Hint}");
        return binaries;
    }
}
