using System.Text.Json;
using System.Text.Json.Serialization;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Pxe.Netns;

/// <summary>One DHCP reply as the scripted client saw it on the wire.</summary>
internal sealed record DhcpReply(
    string Source, int Op, long Xid, string Mac, string Ciaddr, string Yiaddr, string Siaddr, string File, int Type,
    [property: JsonPropertyName("server_id")] string? ServerId, string? Vendor,
    [property: JsonPropertyName("bootfile_option")] string? BootfileOption, string? Uuid,
    [property: JsonPropertyName("pxe_options")] string? PxeOptions)
{
    public const int Offer = 2, Ack = 5;

    /// <summary>The reply that hands out an address (the site's DHCP server).</summary>
    public bool OffersAddress => Yiaddr != "0.0.0.0";
}

/// <summary>
/// Runs <c>dhcp_probe.py</c> (a scripted DHCP client, standard-library Python) inside the client namespace:
/// a test process cannot open sockets in another namespace, a program started there can.
/// </summary>
internal static class DhcpProbe
{
    private static readonly JsonSerializerOptions Json = new() { PropertyNameCaseInsensitive = true };

    private static string Script => Path.Combine(RepoPaths.Root, "tests", "Provisioner.Tests", "Pxe", "Netns", "dhcp_probe.py");

    /// <summary>Broadcasts a DHCPDISCOVER and returns every reply within <paramref name="wait"/>.</summary>
    public static Task<IReadOnlyList<DhcpReply>> DiscoverAsync(NetworkNamespace client, string iface, string mac, double wait = 2, params string[] options) =>
        RunAsync(client, ["discover", iface, mac, "--wait", wait.ToString(System.Globalization.CultureInfo.InvariantCulture), .. options]);

    /// <summary>Sends a DHCPREQUEST to <paramref name="server"/>:<paramref name="port"/> (broadcast when 255.255.255.255).</summary>
    public static Task<IReadOnlyList<DhcpReply>> RequestAsync(NetworkNamespace client, string iface, string mac, string server, int port,
        string ciaddr, params string[] options) =>
        RunAsync(client, ["request", iface, mac, "--server", server, "--port", port.ToString(), "--ciaddr", ciaddr, "--wait", "2", .. options]);

    /// <summary>Broadcasts <paramref name="count"/> random and mutated PXE DISCOVERs to port 67.</summary>
    public static Task<IReadOnlyList<DhcpReply>> NoiseAsync(NetworkNamespace client, string iface, string mac, int count, params string[] options) =>
        RunAsync(client, ["noise", iface, mac, "--count", count.ToString(), .. options]);

    private static async Task<IReadOnlyList<DhcpReply>> RunAsync(NetworkNamespace client, string[] args)
    {
        var python = Requires.Program("python3", "python3");
        var result = await client.RunAsync(python, [Script, .. args]);
        Assert.True(result.ExitCode == 0, "dhcp_probe.py: " + result);
        return [.. result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.StartsWith('{'))
            .Select(l => JsonSerializer.Deserialize<DhcpReply>(l, Json)!)];
    }
}
