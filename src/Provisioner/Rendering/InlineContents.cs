using System.IO.Compression;
using Provisioner.Ignition;

namespace Provisioner.Rendering;

/// <summary>Inline file bytes as an Ignition resource: a data URL, gzip'd when that makes it smaller.</summary>
internal static class InlineContents
{
    public static Resource ToResource(byte[] data)
    {
        if (data.Length > 4096)
        {
            using var buffer = new MemoryStream();
            using (var gz = new GZipStream(buffer, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(data);
            if (buffer.Length < data.Length)
                return new Resource { Source = "data:;base64," + Convert.ToBase64String(buffer.ToArray()), Compression = "gzip" };
        }
        return new Resource { Source = "data:," + Uri.EscapeDataString(System.Text.Encoding.UTF8.GetString(data)) };
    }
}
