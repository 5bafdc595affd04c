using Microsoft.AspNetCore.Http;

namespace Provisioner.Profiles;

/// <summary>
/// Reads what a machine sent in the query string. iPXE expands unknown settings to empty strings,
/// so empty values mean "not sent"; a value that is present but malformed is a 400 with the reason.
/// </summary>
internal static class BootQuery
{
    public const int MaxValueLength = 128;

    public static bool TryParse(IQueryCollection query, out MachineQuery result, out string error)
    {
        result = new MachineQuery(null, null, null, null);
        error = "";
        foreach (var (key, values) in query)
        {
            if (values.Count > 1) { error = $"query parameter '{key}' is given {values.Count} times"; return false; }
            if ((values.ToString() ?? "").Length > MaxValueLength) { error = $"query parameter '{key}' is longer than {MaxValueLength} characters"; return false; }
        }

        MacAddress? mac = null;
        var macText = Value(query, "mac");
        if (macText is not null)
        {
            if (!MacAddress.TryParse(macText, out var m)) { error = $"mac '{macText}' is not a MAC address (expected 52-54-00-12-34-56 or 52:54:00:12:34:56)"; return false; }
            mac = m;
        }
        Guid? uuid = null;
        var uuidText = Value(query, "uuid");
        if (uuidText is not null)
        {
            if (!Guid.TryParse(uuidText, out var u)) { error = $"uuid '{uuidText}' is not a UUID"; return false; }
            // A placeholder is not an identity: as if none was sent.
            uuid = SmbiosUuid.IsPlaceholder(u) ? null : u;
        }
        var serial = Value(query, "serial");
        var hostname = Value(query, "hostname");
        if (hostname is not null && !hostname.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_'))
        {
            error = $"hostname '{hostname}' contains characters not allowed in a host name";
            return false;
        }
        if (serial is not null && serial.Any(char.IsControl)) { error = "serial contains control characters"; return false; }
        result = new MachineQuery(mac, uuid, serial, hostname);
        if (result.IsEmpty) { error = "no machine identity given: pass at least one of mac, uuid, serial or hostname (a nil or all-F uuid identifies nothing)"; return false; }
        return true;
    }

    private static string? Value(IQueryCollection query, string key)
    {
        var v = query[key].ToString().Trim();
        return v.Length == 0 ? null : v;
    }

    /// <summary>The identity to put in URLs the machine will fetch next, so it is recognised again.</summary>
    public static string ToQueryString(MachineQuery q)
    {
        var parts = new List<string>();
        if (q.Mac is { } m) parts.Add("mac=" + m.ToHexHyphen());
        if (q.Uuid is { } u) parts.Add("uuid=" + u.ToString("D"));
        if (q.Serial is { } s) parts.Add("serial=" + Uri.EscapeDataString(s));
        if (q.Hostname is { } h) parts.Add("hostname=" + Uri.EscapeDataString(h));
        return string.Join('&', parts);
    }
}
