namespace Provisioner.Profiles;

/// <summary>What a booting machine told us about itself (all optional; iPXE sends what it knows).</summary>
internal sealed record MachineQuery(MacAddress? Mac, Guid? Uuid, string? Serial, string? Hostname)
{
    public bool IsEmpty => Mac is null && Uuid is null && Serial is null && Hostname is null;

    /// <summary>
    /// A stable key for a machine we do not know yet: its MAC, which every netbooting NIC has and which is unique on
    /// a segment, before the UUID, which boards often send as a shared placeholder.
    /// </summary>
    public string DiscoveryKey => Mac is { } m ? $"mac:{m}" : Uuid is { } u ? $"uuid:{u}" : Serial is { } s ? $"serial:{s}" : $"hostname:{Hostname}";

    public override string ToString() => string.Join(' ', new[]
    {
        Mac is { } m ? $"mac={m}" : null,
        Uuid is { } u ? $"uuid={u}" : null,
        Serial is { } s ? $"serial={s}" : null,
        Hostname is { } h ? $"hostname={h}" : null,
    }.OfType<string>());
}

internal enum SelectorKind { Uuid, Mac, Serial, Hostname }

/// <summary>SMBIOS system UUIDs that identify nothing.</summary>
internal static class SmbiosUuid
{
    private static readonly Guid AllOnes = new("ffffffff-ffff-ffff-ffff-ffffffffffff");

    /// <summary>
    /// The nil UUID and all-ones: what firmware sends when the board has no UUID (QEMU's iPXE without -uuid, many
    /// boards). Many machines share them, so they never identify or group a machine.
    /// </summary>
    public static bool IsPlaceholder(Guid uuid) => uuid == Guid.Empty || uuid == AllOnes;
}

internal sealed record MachineMatch(MachineSpec Machine, SelectorKind MatchedBy)
{
    /// <summary>"matched by mac" and so on, for the boot record (made once: matches are kept per query string).</summary>
    public string Description { get; } = $"matched by {MatchedBy.ToString().ToLowerInvariant()}";
}

/// <summary>
/// Finds the profile of a booting machine. Precedence is UUID &gt; MAC &gt; serial &gt; hostname: the
/// firmware's SMBIOS UUID is the most specific identity, a MAC can move with a NIC, serials are often
/// blank or "To Be Filled By O.E.M.", and host names are whatever DHCP said. The loader guarantees that
/// no selector value is claimed by two machines, so at each level there is at most one candidate.
/// </summary>
internal static class MachineMatcher
{
    public static MachineMatch? Match(ProfileSet profiles, MachineQuery query)
    {
        if (query.Uuid is { } uuid && profiles.Machines.FirstOrDefault(m => m.Select.Uuid == uuid) is { } byUuid)
            return new(byUuid, SelectorKind.Uuid);
        if (query.Mac is { } mac && profiles.Machines.FirstOrDefault(m => m.Select.Macs.Contains(mac)) is { } byMac)
            return new(byMac, SelectorKind.Mac);
        if (!string.IsNullOrEmpty(query.Serial) && profiles.Machines.FirstOrDefault(m => m.Select.Serial == query.Serial) is { } bySerial)
            return new(bySerial, SelectorKind.Serial);
        if (!string.IsNullOrEmpty(query.Hostname) && profiles.Machines.FirstOrDefault(m =>
                string.Equals(m.Select.Hostname, query.Hostname, StringComparison.OrdinalIgnoreCase)) is { } byHost)
            return new(byHost, SelectorKind.Hostname);
        return null;
    }
}
