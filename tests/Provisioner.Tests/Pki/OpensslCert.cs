using System.Net;

namespace Provisioner.Tests.Pki;

/// <summary>What <c>openssl x509 -noout -text</c> says about a certificate: an independent reading of our output.</summary>
internal sealed record OpensslCert(string Text)
{
    public static async Task<OpensslCert> ReadAsync(string certPath, CancellationToken ct) =>
        new(await Programs.OpensslAsync(ct, "x509", "-in", certPath, "-noout", "-text"));

    /// <summary>The value line under an extension header, and whether the header said critical.</summary>
    public (string Value, bool Critical)? Extension(string header)
    {
        var lines = Text.Split('\n');
        for (var i = 0; i < lines.Length - 1; i++)
        {
            var line = lines[i].Trim();
            if (line.StartsWith(header + ":", StringComparison.Ordinal))
                return (lines[i + 1].Trim(), line.EndsWith("critical", StringComparison.Ordinal));
        }
        return null;
    }

    public string Subject => Text.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("Subject:", StringComparison.Ordinal))["Subject:".Length..].Trim();

    public (HashSet<string> Dns, HashSet<IPAddress> Ips) Sans
    {
        get
        {
            var dns = new HashSet<string>();
            var ips = new HashSet<IPAddress>();
            if (Extension("X509v3 Subject Alternative Name") is not { } ext) return (dns, ips);
            foreach (var entry in ext.Value.Split(", "))
            {
                if (entry.StartsWith("DNS:", StringComparison.Ordinal)) dns.Add(entry[4..]);
                else if (entry.StartsWith("IP Address:", StringComparison.Ordinal)) ips.Add(IPAddress.Parse(entry["IP Address:".Length..]));
                else Assert.Fail($"unexpected SAN entry {entry}");
            }
            return (dns, ips);
        }
    }

    public HashSet<string> List(string header) =>
        Extension(header) is { } ext ? [.. ext.Value.Split(", ")] : [];
}
