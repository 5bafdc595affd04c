using Microsoft.Extensions.Configuration;

namespace Provisioner.Hosting;

/// <summary>
/// <see cref="ServerOptions"/> as configuration data, for servers built from typed options (tests, benches): the
/// capabilities register themselves from configuration, under the settings' keys (Cli/SettingsTable.cs), the way
/// <c>serve</c> gives them from flags, <c>PROVISIONER_*</c> and provisioner.yaml.
/// </summary>
internal static class ServerConfiguration
{
    public static IConfiguration From(ServerOptions options)
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["profiles"] = options.ProfilesDirectory,
            ["templates"] = options.TemplatesDirectory,
            ["assets"] = options.AssetsDirectory,
            ["clusterDir"] = options.ClusterDirectory,
            ["store"] = options.StoreDirectory,
            ["tlsCert"] = options.TlsCertificateFile,
            ["tlsKey"] = options.TlsKeyFile,
            // No "kubeconfig": the one in the typed options travels with the approver's tuning. Checked at start is the
            // operator's --kubeconfig; a composed server whose kubeconfig is missing starts, its approver saying why it is off.
            ["noApprover"] = options.Approver.Enabled ? null : "true",
            ["denyForged"] = options.Approver.Policy.DenyForged ? "true" : null,
        };
        if (options.Pxe is { } pxe)
        {
            data["tftp"] = pxe.Tftp?.ToString();
            data["proxyDhcp"] = pxe.ProxyDhcpInterface;
            data["ipxeDir"] = pxe.IpxeDirectory;
            data["uefiBootFile"] = pxe.UefiBootFile;
            data["tftpRoot"] = pxe.TftpRoot;
            data["pxeChainFirst"] = pxe.ChainFirst ? "true" : null;
        }
        // Absent rather than null: a null value would still count as given (e.g. "tftp" turning PXE on).
        return new ConfigurationBuilder().AddInMemoryCollection(data.Where(kv => kv.Value is not null)).Build();
    }
}
