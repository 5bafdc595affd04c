using System.IO.Compression;
using System.Text;
using System.Text.Unicode;

namespace Provisioner.Ignition;

/// <summary>RFC 2397 <c>data:</c> URLs, the way Ignition configs carry file contents inline.</summary>
internal static class DataUrl
{
    /// <summary>Contents larger than this are gzip-compressed by <see cref="ForContents"/> when that makes them smaller.</summary>
    public const int CompressAbove = 4096;

    // Percent-encoded text is readable in the served JSON; above this size base64's fixed 4/3 overhead usually wins.
    private const int PlainTextLimit = 2048;

    /// <summary>A <c>data:</c> URL for <paramref name="data"/>: readable <c>data:,</c> for small text, <c>data:;base64,</c> otherwise.</summary>
    public static string Encode(ReadOnlySpan<byte> data)
    {
        if (data.Length <= PlainTextLimit && IsPlainText(data))
        {
            var plain = PercentEncode(data);
            if (plain.Length <= Base64Length(data.Length) + 16) return "data:," + plain;
        }
        return "data:;base64," + Convert.ToBase64String(data);
    }

    /// <summary>A file-contents resource; gzip-compressed when larger than <see cref="CompressAbove"/> bytes and compression helps.</summary>
    public static Resource ForContents(byte[] data)
    {
        ArgumentNullException.ThrowIfNull(data);
        if (data.Length > CompressAbove)
        {
            var gzipped = Gzip(data);
            // Only worth it when clearly smaller: gunzip costs the machine time at boot.
            if (gzipped.Length < data.Length * 9L / 10)
                return new Resource { Source = "data:;base64," + Convert.ToBase64String(gzipped), Compression = "gzip" };
        }
        return new Resource { Source = Encode(data) };
    }

    /// <summary>The bytes a <c>data:</c>-URL resource describes, gunzipped when <c>compression</c> is <c>gzip</c>.</summary>
    /// <exception cref="FormatException">The source is not a decodable data URL, or the compression is unknown or corrupt.</exception>
    public static byte[] Decode(Resource resource)
    {
        ArgumentNullException.ThrowIfNull(resource);
        if (resource.Source is null) throw new FormatException("The resource has no source.");
        if (!TryParse(resource.Source, out var raw, out var error)) throw new FormatException("Invalid data: URL: " + error);
        return resource.Compression switch
        {
            null or "" => raw,
            "gzip" => TryGunzip(raw, out var plain, out var gzipError) ? plain : throw new FormatException(gzipError),
            var other => throw new FormatException($"Unsupported compression '{other}' (only gzip is defined)."),
        };
    }

    public static bool IsDataUrl(string? source) => source is not null && source.StartsWith("data:", StringComparison.OrdinalIgnoreCase);

    /// <summary>Decodes a <c>data:</c> URL the way Ignition does; <paramref name="error"/> explains a failure.</summary>
    internal static bool TryParse(string url, out byte[] data, out string error)
    {
        data = [];
        error = "";
        if (!IsDataUrl(url)) return Fail("not a data: URL", out error);
        var comma = url.IndexOf(',');
        if (comma < 0) return Fail("a data: URL needs a ',' before its data", out error);

        var header = url[5..comma].Split(';');
        var base64 = header.Length > 1 && header[^1].Equals("base64", StringComparison.OrdinalIgnoreCase);
        var mediaType = header[0];
        if (mediaType.Length > 0 && mediaType.Split('/') is not [{ Length: > 0 }, { Length: > 0 }])
            return Fail($"'{mediaType}' is not a media type (type/subtype)", out error);
        foreach (var parameter in header.AsSpan(1, header.Length - (base64 ? 2 : 1)))
            if (parameter.IndexOf('=') <= 0)
                return Fail($"media type parameter '{parameter}' is not attribute=value", out error);

        if (!TryPercentDecode(url.AsSpan(comma + 1), out var bytes, out error)) return false;
        if (!base64) { data = bytes; return true; }
        try
        {
            data = Convert.FromBase64String(Encoding.ASCII.GetString(bytes));
            return true;
        }
        catch (FormatException)
        {
            return Fail("the data is marked ;base64 but is not valid base64", out error);
        }
    }

    internal static bool TryGunzip(byte[] compressed, out byte[] plain, out string error)
    {
        plain = [];
        error = "";
        try
        {
            using var gzip = new GZipStream(new MemoryStream(compressed), CompressionMode.Decompress);
            using var output = new MemoryStream();
            gzip.CopyTo(output);
            plain = output.ToArray();
            return true;
        }
        catch (InvalidDataException e)
        {
            return Fail("compression is gzip but the data is not valid gzip (" + e.Message + ")", out error);
        }
    }

    private static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize, leaveOpen: true)) gzip.Write(data);
        return output.ToArray();
    }

    private static bool TryPercentDecode(ReadOnlySpan<char> text, out byte[] bytes, out string error)
    {
        bytes = [];
        error = "";
        var output = new List<byte>(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '%')
            {
                if (i + 2 >= text.Length ||
                    !Uri.IsHexDigit(text[i + 1]) || !Uri.IsHexDigit(text[i + 2]))
                    return Fail($"invalid percent-escape at offset {i} of the data", out error);
                output.Add((byte)Convert.ToInt32(text.Slice(i + 1, 2).ToString(), 16));
                i += 2;
            }
            else if (c > 0x7F)
                return Fail($"non-ASCII character at offset {i} of the data must be percent-encoded", out error);
            else
                output.Add((byte)c);
        }
        bytes = [.. output];
        return true;
    }

    private static bool IsPlainText(ReadOnlySpan<byte> data)
    {
        if (!Utf8.IsValid(data)) return false;
        foreach (var b in data)
            if (b < 0x20 && b is not (byte)'\n' and not (byte)'\t' and not (byte)'\r' || b == 0x7F)
                return false;
        return true;
    }

    // Unreserved characters (RFC 3986) plus a few that are safe in a URL's opaque part; everything else, including '%', '+' and '#', is escaped.
    private static string PercentEncode(ReadOnlySpan<byte> data)
    {
        var sb = new StringBuilder(data.Length + 16);
        foreach (var b in data)
        {
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || "-._~/:=@,;!*'()$&".Contains(c)) sb.Append(c);
            else sb.Append('%').Append(b.ToString("X2"));
        }
        return sb.ToString();
    }

    private static int Base64Length(int length) => (length + 2) / 3 * 4 + "data:;base64,".Length - "data:,".Length;

    private static bool Fail(string message, out string error)
    {
        error = message;
        return false;
    }
}
