using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Provisioner.Assets;
using Provisioner.Catalog;
using Provisioner.Pxe.Dhcp;
using Provisioner.Pxe.Tftp;
using Provisioner.Primitives;

namespace Provisioner.Pxe;

/// <summary>
/// Wires TFTP and ProxyDHCP into the server. Everything that depends on the host (the iPXE files, the interface)
/// is checked here, before anything starts, and reported as one clear line naming the setting to fix.
/// </summary>
internal static class PxeHosting
{
    /// <summary>The resolved iPXE binaries, name → path; registered only when a PXE service is on.</summary>
    public sealed record ResolvedBinaries(IReadOnlyDictionary<string, string> Files);

    public static void AddPxe(this IServiceCollection services, PxeOptions? options)
    {
        if (options is null || !options.Enabled) return;
        var binaries = FindBinaries(options);
        services.AddSingleton(new ResolvedBinaries(binaries));

        if (options.Tftp is { } tftp)
        {
            if (options.TftpRoot is { } root && !Directory.Exists(root))
                throw new SettingsException($"--tftp-root: '{root}' does not exist");
            // 256 sessions: a rack powering on at once must not be refused; each session holds one window (~23 KB at
            // blksize 1428 × windowsize 16), so the bound stays a few MB.
            var tftpOptions = new TftpOptions(tftp, options.TftpRoot is { } r ? [r] : [], MaxSessions: 256) { Files = binaries };
            services.AddHostedService(sp => new TftpHostedService(tftpOptions, sp.GetRequiredService<ILogger<TftpServer>>()));
        }

        if (options.ProxyDhcpInterface is { } name)
        {
            if (options.Tftp is null)
                throw new SettingsException("--proxy-dhcp sends PXE firmware to TFTP for iPXE: also give --tftp (e.g. --tftp 0.0.0.0)");
            var address = InterfaceAddress(name);
            // next-server is our address on the interface, so TFTP must listen there.
            if (!options.Tftp.Address.Equals(IPAddress.Any) && !options.Tftp.Address.Equals(IPAddress.IPv6Any) && !options.Tftp.Address.Equals(address))
                throw new SettingsException($"--tftp: PXE clients on '{name}' are sent to {address}, but TFTP listens on {options.Tftp.Address}; use --tftp 0.0.0.0 or --tftp {address}");
            services.AddSingleton(sp => new ProxyDhcpResponder(
                new ProxyDhcpSettings(binaries.Keys.ToHashSet(StringComparer.Ordinal), options.UefiBootFile, options.ChainFirst),
                sp.GetRequiredService<TimeProvider>()));
            services.AddHostedService(sp =>
            {
                var server = sp.GetRequiredService<IServer>();
                var catalog = sp.GetRequiredService<CatalogStore>();
                var serverOptions = new ProxyDhcpServerOptions(name, address, ip => HttpBase(ip, server, catalog)) { TftpPort = options.Tftp.Port };
                return new ProxyDhcpServer(serverOptions, sp.GetRequiredService<ProxyDhcpResponder>(), sp.GetRequiredService<ILogger<ProxyDhcpServer>>());
            });
        }
    }

    /// <summary>Maps <c>/pxe/{name}</c> (iPXE binaries over HTTP) when a PXE service is on.</summary>
    public static void MapPxe(this WebApplication app)
    {
        if (app.Services.GetService<ResolvedBinaries>() is { } binaries)
            app.MapPxeBinaries(binaries.Files, app.Services.GetRequiredService<AssetFileServer>());
    }

    private static IReadOnlyDictionary<string, string> FindBinaries(PxeOptions options)
    {
        const string hint = "install Debian's 'ipxe' package or point --ipxe-dir at a directory holding them";
        var dir = options.IpxeDirectory;
        if (!Directory.Exists(dir))
            throw new SettingsException($"--ipxe-dir: '{dir}' does not exist; {hint}");
        var binaries = IpxeBinaries.Find(dir);
        if (binaries.Count == 0)
            throw new SettingsException($"--ipxe-dir: no iPXE binaries ({string.Join(", ", IpxeBinaries.WellKnownNames)}) in '{dir}'; {hint}");
        if (options.ProxyDhcpInterface is not null && !binaries.ContainsKey(options.UefiBootFile))
            throw new SettingsException($"--uefi-boot-file: '{options.UefiBootFile}' is not in '{dir}'; {hint}");
        return binaries;
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
