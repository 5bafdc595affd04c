using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using YamlDotNet.RepresentationModel;

namespace Provisioner.Profiles;

/// <summary>Reads one machine of the <c>machines</c> section: name, role, selectors, network, install disk, labels.</summary>
internal static class MachineSectionReader
{
    /// <summary>One entry of <c>machines</c>; null without a name or role (each problem reported).</summary>
    public static MachineSpec? Read(YamlNodeReader r)
    {
        var name = r.String("name", required: true);
        if (name is not null && !ProfileFields.DnsLabel().IsMatch(name))
            r.FieldError("name", $"'{name}' is not a valid host name (a DNS label: lower-case letters, digits and '-', at most 63)");
        if (name is { Length: > 63 })
            r.FieldError("name", "a host name is at most 63 characters");
        var role = r.String("role", required: true);

        var macs = ImmutableArray.CreateBuilder<MacAddress>();
        Guid? uuid = null;
        string? serial = null, hostname = null;
        if (r.Mapping("select", required: true) is { } s)
        {
            foreach (var (text, node) in s.StringList("mac"))
            {
                if (MacAddress.TryParse(text, out var mac)) macs.Add(mac);
                else s.Error(node, s.FieldPath("mac"), $"'{text}' is not a MAC address like 52:54:00:12:34:56");
            }
            // The nil and all-F UUIDs are what boards without one send: many machines share them.
            uuid = s.Parsed<Guid>("uuid", (string text, out Guid u) => Guid.TryParse(text, out u) && !SmbiosUuid.IsPlaceholder(u),
                "an SMBIOS UUID like 4c4c4544-0042-3510-8052-b4c04f564433 (the nil and all-F UUIDs are placeholders many boards share)");
            serial = s.String("serial");
            hostname = s.String("hostname");
            s.RejectUnknownKeys();
            // Only when no selector was written at all: a written but malformed one (a bad MAC) already has
            // its own error, and "at least one selector is needed" beside it would send the operator looking
            // for a missing key that is right there.
            var written = new[] { "mac", "uuid", "serial", "hostname" }.Any(k => s.Raw(k) is { } v && !YamlNodeReader.IsNull(v) && v is not YamlSequenceNode { Children.Count: 0 });
            if (!written)
                s.Error("at least one selector is needed: mac, uuid, serial or hostname");
        }

        var network = NetworkSpec.UseDhcp;
        if (r.Mapping("network") is { } n) network = ReadNetwork(n);
        var installDisk = ProfileFields.ReadInstallDisk(r);
        var labels = ProfileFields.ReadLabels(r, "labels");
        r.RejectUnknownKeys();
        if (name is null || role is null) return null;
        return new MachineSpec(name, role, new MachineSelectors(macs.ToImmutable(), uuid, serial, hostname),
            network, installDisk, labels, r.Location);
    }

    private static NetworkSpec ReadNetwork(YamlNodeReader n)
    {
        var dhcp = n.Bool("dhcp");
        var iface = n.String("interface");
        var addressText = n.String("address");
        IPAddress? address = null;
        int? prefix = null;
        if (addressText is not null)
        {
            if (ProfileLoader.TryParseCidr(addressText, out _) && addressText.Split('/') is [var ip, var len] && IPAddress.TryParse(ip, out var a))
            {
                address = a;
                prefix = int.Parse(len, CultureInfo.InvariantCulture);
            }
            else n.FieldError("address", $"'{addressText}' is not an address with prefix like 192.0.2.21/24");
        }
        var gateway = n.ParsedRef<IPAddress>("gateway", IPAddress.TryParse, "an IP address");
        var dns = n.StringList("dns").Select(d =>
        {
            if (IPAddress.TryParse(d.Value, out var ip)) return ip;
            n.Error(d.Node, n.FieldPath("dns"), $"'{d.Value}' is not an IP address");
            return null;
        }).OfType<IPAddress>().ToImmutableArray();
        n.RejectUnknownKeys();

        if (dhcp == true && address is not null)
            n.FieldError("dhcp", "dhcp: true and a static address are exclusive");
        if (address is null && (gateway is not null || dns.Length > 0) && dhcp != true)
            n.Error("gateway/dns given without a static address; add 'address' or set 'dhcp: true'");
        if (address is not null && gateway is not null && prefix is { } p)
        {
            var subnet = ProfileLoader.TrimToNetwork(address, p);
            if (subnet is not null && !subnet.Value.Contains(gateway))
                n.FieldError("gateway", $"gateway {gateway} is outside the machine's subnet {subnet}");
        }
        if (address is null) return new NetworkSpec(true, iface, null, null, null, dns);
        return new NetworkSpec(false, iface, address, prefix, gateway, dns);
    }
}
