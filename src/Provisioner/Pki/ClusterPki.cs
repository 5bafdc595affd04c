using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;
using Provisioner.Primitives;

namespace Provisioner.Pki;

internal enum PkiAction
{
    /// <summary>Nothing usable existed; a new key and certificate were written.</summary>
    Created,
    /// <summary>Existing files still match the plan; nothing was written.</summary>
    Reused,
    /// <summary>The certificate (and, if unusable, the key) was replaced; see the reason.</summary>
    Reissued,
}

internal sealed record PkiItemResult(string Name, PkiAction Action, string? Reason = null);

internal sealed record PkiRenderResult(ImmutableArray<PkiItemResult> Items)
{
    public IEnumerable<string> Created => Names(PkiAction.Created);
    public IEnumerable<string> Reused => Names(PkiAction.Reused);
    public IEnumerable<string> Reissued => Names(PkiAction.Reissued);

    public PkiItemResult this[string name] => Items.First(i => i.Name == name);

    private IEnumerable<string> Names(PkiAction action) => Items.Where(i => i.Action == action).Select(i => i.Name);
}

/// <summary>
/// Renders a <see cref="ClusterPkiPlan"/> into a kubeadm-style <c>tls/</c> directory, idempotently:
/// valid files are left untouched (same bytes, same mtime), a leaf is re-issued only when it no longer
/// matches the plan, and a CA is never replaced. CA files present before the first render are used as
/// a bring-your-own CA, as kubeadm does.
/// </summary>
internal static class ClusterPki
{
    private static readonly ConcurrentDictionary<string, SemaphoreSlim> DirLocks = new();

    public static async Task<PkiRenderResult> RenderAsync(ClusterPkiPlan plan, string tlsDir, CancellationToken ct)
    {
        tlsDir = Path.GetFullPath(tlsDir);
        // Two renders of one directory in this process would race on the same files.
        var gate = DirLocks.GetOrAdd(tlsDir, _ => new SemaphoreSlim(1, 1));
        await gate.WaitAsync(ct);
        try
        {
            // A crash in an earlier render may have left a CA half written (its journal finishes it) or temp files.
            await AtomicFile.RecoverAsync(tlsDir, ct);
            var now = plan.Options.Clock.GetUtcNow();
            var results = new List<PkiItemResult>();
            var authorities = new Dictionary<string, CertificateAuthority>();
            foreach (var spec in plan.Authorities)
            {
                var (ca, result) = await LoadOrCreateAuthorityAsync(spec, plan.Options, tlsDir, now, ct);
                authorities[spec.Name] = ca;
                results.Add(result);
            }
            results.Add(await RenderServiceAccountKeyAsync(plan.Options, tlsDir, ct));
            foreach (var spec in plan.Leaves)
            {
                if (!authorities.TryGetValue(spec.IssuerName!, out var ca))
                    throw new PkiException($"{spec.Name}: issuer '{spec.IssuerName}' is not a CA in the plan.");
                results.Add(await RenderLeafAsync(spec, ca, plan.Options, tlsDir, now, ct));
            }
            return new PkiRenderResult([.. results]);
        }
        finally
        {
            gate.Release();
        }
    }

    private static async Task<(CertificateAuthority, PkiItemResult)> LoadOrCreateAuthorityAsync(
        CertificateSpec spec, PkiOptions options, string tlsDir, DateTimeOffset now, CancellationToken ct)
    {
        var certPath = Path.Combine(tlsDir, spec.CertificateFile);
        var keyPath = Path.Combine(tlsDir, spec.KeyFile);
        bool hasCert = File.Exists(certPath), hasKey = File.Exists(keyPath);

        if (!hasCert && !hasKey)
        {
            var key = PkiKeys.Generate(options.KeyAlgorithm);
            var created = CertificateIssuer.SelfSignedAuthority(spec, key, options.AuthorityValidity, now);
            // One unit: a key without its certificate (or the reverse) would make every later start refuse the CA.
            await AtomicFile.WriteTogetherAsync([
                new FileContent(keyPath, Pem.EncodePrivateKey(key), AtomicFile.PrivateMode),
                new FileContent(certPath, Pem.EncodeCertificate(created.Certificate), AtomicFile.PublicMode)], ct);
            return (created, new PkiItemResult(spec.Name, PkiAction.Created));
        }
        // Replacing a CA silently would orphan every certificate and kubeconfig already handed out.
        if (!hasKey)
            throw new PkiException($"CA certificate {certPath} exists but its key {keyPath} is missing. Restore the key; the CA is never replaced automatically.");
        if (!hasCert)
            throw new PkiException($"CA key {keyPath} exists but its certificate {certPath} is missing. Restore the certificate (or remove both to create a new CA).");

        var cert = await ReadAsync(certPath, Pem.DecodeCertificate, ct);
        var caKey = await ReadAsync(keyPath, Pem.DecodePrivateKey, ct);
        if (!caKey.Matches(cert.GetPublicKey()))
            throw new PkiException($"CA key {keyPath} does not belong to certificate {certPath}. Restore the matching key; the CA is never replaced automatically.");
        if (cert.GetBasicConstraints() < 0)
            throw new PkiException($"{certPath} is not a CA certificate (BasicConstraints CA:false or absent).");
        if (cert.GetKeyUsage() is { } ku && !ku[5])
            throw new PkiException($"{certPath} may not sign certificates (KeyUsage lacks keyCertSign).");
        if (cert.NotAfter.ToUniversalTime() <= now.UtcDateTime)
            throw new PkiException($"CA certificate {certPath} expired on {cert.NotAfter:u}. Rotate the CA deliberately; it is never replaced automatically.");
        AtomicFile.EnsureMode(keyPath, AtomicFile.PrivateMode);

        var note = cert.NotAfter.ToUniversalTime() <= (now + options.RenewBefore).UtcDateTime
            ? $"CA expires soon ({cert.NotAfter:u}); plan a rotation"
            : null;
        return (new CertificateAuthority(cert, caKey), new PkiItemResult(spec.Name, PkiAction.Reused, note));
    }

    /// <summary>Like a CA key, an existing <c>sa.key</c> is kept: replacing it would invalidate every token.</summary>
    private static async Task<PkiItemResult> RenderServiceAccountKeyAsync(PkiOptions options, string tlsDir, CancellationToken ct)
    {
        const string name = "sa";
        var keyPath = Path.Combine(tlsDir, ClusterPkiPlan.ServiceAccountKeyFile);
        var pubPath = Path.Combine(tlsDir, ClusterPkiPlan.ServiceAccountPublicKeyFile);
        if (!File.Exists(keyPath))
        {
            var key = PkiKeys.Generate(options.KeyAlgorithm);
            await AtomicFile.WriteAsync(keyPath, Pem.EncodePrivateKey(key), AtomicFile.PrivateMode, ct);
            await AtomicFile.WriteAsync(pubPath, Pem.EncodePublicKey(key), AtomicFile.PublicMode, ct);
            return new PkiItemResult(name, PkiAction.Created);
        }
        var existing = await ReadAsync(keyPath, Pem.DecodePrivateKey, ct);
        AtomicFile.EnsureMode(keyPath, AtomicFile.PrivateMode);
        var expectedPub = Pem.EncodePublicKey(existing);
        if (File.Exists(pubPath) && await File.ReadAllTextAsync(pubPath, ct) == expectedPub)
            return new PkiItemResult(name, PkiAction.Reused);
        await AtomicFile.WriteAsync(pubPath, expectedPub, AtomicFile.PublicMode, ct);
        return new PkiItemResult(name, PkiAction.Reissued, "sa.pub was missing or did not match sa.key");
    }

    private static async Task<PkiItemResult> RenderLeafAsync(
        CertificateSpec spec, CertificateAuthority ca, PkiOptions options, string tlsDir, DateTimeOffset now, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var certPath = Path.Combine(tlsDir, spec.CertificateFile);
        var keyPath = Path.Combine(tlsDir, spec.KeyFile);
        var cert = File.Exists(certPath) ? await TryReadAsync(certPath, Pem.DecodeCertificate, ct) : null;
        var key = File.Exists(keyPath) ? await TryReadAsync(keyPath, Pem.DecodePrivateKey, ct) : null;
        // A key of another algorithm than planned is replaced along with its certificate.
        var usableKey = key?.Algorithm == options.KeyAlgorithm ? key : null;

        string? reason;
        if (cert is null && key is null) reason = null;
        else if (usableKey is null) reason = key is null ? "key missing or unreadable" : "key algorithm differs from the plan";
        else if (cert is null) reason = "certificate missing or unreadable";
        else reason = Mismatch(cert, usableKey, spec, ca, options, now);

        if (cert is not null && usableKey is not null && reason is null)
        {
            AtomicFile.EnsureMode(keyPath, AtomicFile.PrivateMode);
            return new PkiItemResult(spec.Name, PkiAction.Reused);
        }

        // Keep a usable key (as `kubeadm certs renew` does) so only the certificate changes.
        var newKey = usableKey ?? PkiKeys.Generate(options.KeyAlgorithm);
        var issued = CertificateIssuer.IssueLeaf(spec, newKey, ca, options.LeafValidity, now);
        if (!ReferenceEquals(newKey, usableKey))
            await AtomicFile.WriteAsync(keyPath, Pem.EncodePrivateKey(newKey), AtomicFile.PrivateMode, ct);
        else
            AtomicFile.EnsureMode(keyPath, AtomicFile.PrivateMode);
        await AtomicFile.WriteAsync(certPath, Pem.EncodeCertificate(issued), AtomicFile.PublicMode, ct);
        return cert is null && key is null
            ? new PkiItemResult(spec.Name, PkiAction.Created)
            : new PkiItemResult(spec.Name, PkiAction.Reissued, reason);
    }

    /// <summary>Why an existing leaf no longer fits the plan, or null when it does.</summary>
    internal static string? Mismatch(X509Certificate cert, PkiKeyPair key, CertificateSpec spec, CertificateAuthority ca, PkiOptions options, DateTimeOffset now)
    {
        if (!key.Matches(cert.GetPublicKey())) return "key does not match certificate";
        if (!cert.IssuerDN.Equivalent(ca.Certificate.SubjectDN, inOrder: true) || !SignedBy(cert, ca)) return "not signed by the current CA";
        // Renew when close to expiry, unless the leaf already lasts as long as its CA (re-issuing could not help).
        var renewBy = Min((now + options.RenewBefore).UtcDateTime, ca.Certificate.NotAfter.ToUniversalTime());
        if (cert.NotAfter.ToUniversalTime() < renewBy) return $"expires {cert.NotAfter:u}";
        if (cert.NotBefore.ToUniversalTime() > now.UtcDateTime) return "not yet valid";
        if (!cert.SubjectDN.Equivalent(CertificateIssuer.ToX509Name(spec.Subject), inOrder: false)) return $"subject differs (want {spec.Subject})";
        if (cert.GetBasicConstraints() >= 0) return "is a CA certificate";
        if (KeyUsageBits(cert) != CertificateIssuer.LeafKeyUsage(key)) return "key usage differs";
        if (!ExtendedUsagesOf(cert).SetEquals(CertificateIssuer.KeyPurposes(spec.Usages).Select(p => p.Id))) return "extended key usage differs";
        var (dns, ips) = SubjectAltNamesOf(cert);
        if (!dns.SetEquals(spec.DnsNames) || !ips.SetEquals(spec.IpAddresses.Select(CertificateIssuer.Canonical)))
            return "subject alternative names differ";
        return null;
    }

    private static DateTime Min(DateTime a, DateTime b) => a < b ? a : b;

    private static bool SignedBy(X509Certificate cert, CertificateAuthority ca)
    {
        try
        {
            cert.Verify(ca.Key.Public);
            return true;
        }
        catch (Exception e) when (e is Org.BouncyCastle.Security.InvalidKeyException or Org.BouncyCastle.Security.Certificates.CertificateException or Org.BouncyCastle.Security.SignatureException)
        {
            return false;
        }
    }

    private static int KeyUsageBits(X509Certificate cert)
    {
        var ext = cert.GetExtensionValue(X509Extensions.KeyUsage);
        return ext is null ? -1 : KeyUsage.GetInstance(X509ExtensionUtilities.FromExtensionValue(ext)).IntValue;
    }

    private static HashSet<string> ExtendedUsagesOf(X509Certificate cert) =>
        [.. (cert.GetExtendedKeyUsage() ?? []).Select(oid => oid.Id)];

    internal static (HashSet<string> Dns, HashSet<IPAddress> Ips) SubjectAltNamesOf(X509Certificate cert)
    {
        var dns = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var ips = new HashSet<IPAddress>();
        var ext = cert.GetExtensionValue(X509Extensions.SubjectAlternativeName);
        if (ext is null) return (dns, ips);
        foreach (var name in GeneralNames.GetInstance(X509ExtensionUtilities.FromExtensionValue(ext)).GetNames())
        {
            if (name.TagNo == GeneralName.DnsName) dns.Add(DerIA5String.GetInstance(name.Name).GetString());
            else if (name.TagNo == GeneralName.IPAddress) ips.Add(CertificateIssuer.Canonical(new IPAddress(Asn1OctetString.GetInstance(name.Name).GetOctets())));
        }
        return (dns, ips);
    }

    private static async Task<T> ReadAsync<T>(string path, Func<string, T> decode, CancellationToken ct)
    {
        try
        {
            return decode(await File.ReadAllTextAsync(path, ct));
        }
        catch (PkiException e)
        {
            throw new PkiException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>For leaves: an unreadable file is simply re-issued.</summary>
    private static async Task<T?> TryReadAsync<T>(string path, Func<string, T> decode, CancellationToken ct) where T : class
    {
        try
        {
            return decode(await File.ReadAllTextAsync(path, ct));
        }
        catch (PkiException)
        {
            return null;
        }
    }
}
