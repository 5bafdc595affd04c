using System.Globalization;

namespace Provisioner.Profiles;

/// <summary>A 48-bit MAC address; parses <c>aa:bb:..</c>, <c>aa-bb-..</c> (iPXE's hexhyp) and <c>aabb..</c>.</summary>
internal readonly record struct MacAddress(ulong Value)
{
    public static bool TryParse(string? text, out MacAddress mac)
    {
        mac = default;
        if (string.IsNullOrWhiteSpace(text)) return false;
        var s = text.Trim();
        string hex;
        if (s.Length == 17)
        {
            char sep = s[2];
            if (sep != ':' && sep != '-') return false;
            for (int i = 2; i < 17; i += 3)
                if (s[i] != sep) return false;
            hex = s.Replace(sep.ToString(), "", StringComparison.Ordinal);
        }
        else if (s.Length == 12) hex = s;
        else return false;
        if (!ulong.TryParse(hex, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v)) return false;
        mac = new MacAddress(v);
        return true;
    }

    public static MacAddress Parse(string text) =>
        TryParse(text, out var m) ? m : throw new FormatException($"'{text}' is not a MAC address");

    private string Join(char sep)
    {
        var value = Value;
        return string.Join(sep, Enumerable.Range(0, 6)
            .Select(i => ((value >> (8 * (5 - i))) & 0xff).ToString("x2", CultureInfo.InvariantCulture)));
    }

    /// <summary>Colon form, lower case: <c>52:54:00:12:34:56</c>.</summary>
    public override string ToString() => Join(':');

    /// <summary>iPXE's <c>${mac:hexhyp}</c> form: <c>52-54-00-12-34-56</c>.</summary>
    public string ToHexHyphen() => Join('-');
}
