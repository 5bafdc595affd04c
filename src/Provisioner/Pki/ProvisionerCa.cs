using System.Collections.Immutable;
using System.Net;
using System.Security.Cryptography.X509Certificates;
using Provisioner.Primitives;

namespace Provisioner.Pki;

/// <summary>Provisioner's own TLS identity: the CA machines pin (PEM) and the serving certificate Kestrel presents.</summary>
internal sealed record ServingIdentity(string CaCertificatePem, X509Certificate2 ServingCertificate, string? Note);

/// <summary>
/// The Provisioner CA and serving certificate in <c>&lt;cluster-dir&gt;/tls/</c>: <c>provisioner-ca.crt|.key</c> and
/// <c>provisioner-serving.crt|.key</c>. Machines pin the CA in their pointer config and fetch their real config from
/// the TLS listener that presents the serving certificate.
/// <para>
/// Crash safety: the CA key and certificate are written as one unit (<see cref="AtomicFile.WriteTogetherAsync"/>), and
/// a key without a certificate (left by an older version) gets its certificate issued from that key on the next start
/// (nothing can have been signed by a CA whose certificate was never written, since the serving certificate is issued
/// after it). A certificate without its key is never "repaired": it is
/// an operator's doing, and the error says what to do. The serving pair is re-issued whenever it no longer fits
/// (another CA, SANs changed, expiring), keeping a usable key.
/// </para>
/// </summary>
internal static class ProvisionerCa
{
    public const string CaName = "provisioner-ca";
    public const string ServingName = "provisioner-serving";

    private static readonly SemaphoreSlim Gate = new(1, 1);

    public static string CaCertificatePath(string tlsDir) => Path.Combine(tlsDir, CaName + ".crt");

    /// <summary>Loads or creates the CA, and loads or (re-)issues the serving certificate for <paramref name="dnsNames"/> and <paramref name="addresses"/>.</summary>
    public static async Task<ServingIdentity> EnsureAsync(string tlsDir, IEnumerable<string> dnsNames, IEnumerable<IPAddress> addresses,
        PkiOptions options, CancellationToken ct)
    {
        tlsDir = Path.GetFullPath(tlsDir);
        await Gate.WaitAsync(ct);
        try
        {
            await using var fileLock = await FileLock.AcquireAsync(Path.Combine(tlsDir, CaName + ".key"), ct);
            // Finishes a CA pair a crash interrupted (and removes temp files) before anything here is read.
            await AtomicFile.RecoverAsync(tlsDir, ct);
            var now = options.Clock.GetUtcNow();
            var (ca, caNote) = await LoadOrCreateAuthorityAsync(tlsDir, options, now, ct);
            var spec = new CertificateSpec(ServingName, CaName, new CertificateSubject("provisioner", []), ExtendedUsages.ServerAuth,
                [.. dnsNames.Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal)],
                [.. addresses.Select(CertificateIssuer.Canonical).Distinct().OrderBy(a => a.ToString(), StringComparer.Ordinal)]);
            var (certPem, keyPem) = await LoadOrIssueServingAsync(spec, ca, tlsDir, options, now, ct);
            // Loaded from PEM, the key is ephemeral: re-exported as PKCS#12 so that Kestrel (SslStream) can use it on any platform.
            using var loaded = X509Certificate2.CreateFromPem(certPem, keyPem);
            var serving = X509CertificateLoader.LoadPkcs12(loaded.Export(X509ContentType.Pkcs12), null);
            return new ServingIdentity(Pem.EncodeCertificate(ca.Certificate), serving, caNote);
        }
        finally
        {
            Gate.Release();
        }
    }

    private static async Task<(CertificateAuthority, string?)> LoadOrCreateAuthorityAsync(string tlsDir, PkiOptions options, DateTimeOffset now, CancellationToken ct)
    {
        var spec = CertificateSpec.Authority(CaName, "provisioner-ca");
        var certPath = Path.Combine(tlsDir, spec.CertificateFile);
        var keyPath = Path.Combine(tlsDir, spec.KeyFile);
        bool hasCert = File.Exists(certPath), hasKey = File.Exists(keyPath);
        if (hasCert && !hasKey)
            throw new PkiException($"Provisioner CA certificate {certPath} exists but its key {keyPath} is missing. Restore the key, or delete {certPath} " +
                "to make a new Provisioner CA (machines pin it afresh with every pointer config; installed machines not yet booted would need a new install).");
        if (!hasKey)
        {
            var key = PkiKeys.Generate(options.KeyAlgorithm);
            var created = CertificateIssuer.SelfSignedAuthority(spec, key, options.AuthorityValidity, now);
            // One unit, as the cluster CAs (a journal the next start replays); the re-issue below covers a key left
            // alone by an older version.
            await AtomicFile.WriteTogetherAsync([
                new FileContent(keyPath, Pem.EncodePrivateKey(key), AtomicFile.PrivateMode),
                new FileContent(certPath, Pem.EncodeCertificate(created.Certificate), AtomicFile.PublicMode)], ct);
            return (created, null);
        }
        var caKey = Pem.DecodePrivateKey(await File.ReadAllTextAsync(keyPath, ct));
        AtomicFile.EnsureMode(keyPath, AtomicFile.PrivateMode);
        if (!hasCert)
        {
            var reissued = CertificateIssuer.SelfSignedAuthority(spec, caKey, options.AuthorityValidity, now);
            await AtomicFile.WriteAsync(certPath, Pem.EncodeCertificate(reissued.Certificate), AtomicFile.PublicMode, ct);
            return (reissued, $"{certPath} was missing (an interrupted first start); issued it again from {keyPath}");
        }
        var cert = Pem.DecodeCertificate(await File.ReadAllTextAsync(certPath, ct));
        if (!caKey.Matches(cert.GetPublicKey()))
            throw new PkiException($"Provisioner CA key {keyPath} does not belong to {certPath}. Restore the matching pair, or delete both to make a new Provisioner CA.");
        if (cert.NotAfter.ToUniversalTime() <= now.UtcDateTime)
            throw new PkiException($"Provisioner CA certificate {certPath} expired on {cert.NotAfter:u}. Delete {certPath} and {keyPath} to make a new one.");
        return (new CertificateAuthority(cert, caKey), null);
    }

    private static async Task<(string CertPem, string KeyPem)> LoadOrIssueServingAsync(CertificateSpec spec, CertificateAuthority ca, string tlsDir,
        PkiOptions options, DateTimeOffset now, CancellationToken ct)
    {
        var certPath = Path.Combine(tlsDir, spec.CertificateFile);
        var keyPath = Path.Combine(tlsDir, spec.KeyFile);
        var key = File.Exists(keyPath) ? TryDecode(await File.ReadAllTextAsync(keyPath, ct), Pem.DecodePrivateKey) : null;
        var cert = File.Exists(certPath) ? TryDecode(await File.ReadAllTextAsync(certPath, ct), Pem.DecodeCertificate) : null;
        var usableKey = key?.Algorithm == options.KeyAlgorithm ? key : null;
        if (usableKey is not null && cert is not null && ClusterPki.Mismatch(cert, usableKey, spec, ca, options, now) is null)
        {
            AtomicFile.EnsureMode(keyPath, AtomicFile.PrivateMode);
            return (Pem.EncodeCertificate(cert), Pem.EncodePrivateKey(usableKey));
        }
        var newKey = usableKey ?? PkiKeys.Generate(options.KeyAlgorithm);
        if (!ReferenceEquals(newKey, usableKey))
            await AtomicFile.WriteAsync(keyPath, Pem.EncodePrivateKey(newKey), AtomicFile.PrivateMode, ct);
        var issued = CertificateIssuer.IssueLeaf(spec, newKey, ca, options.LeafValidity, now);
        var pem = Pem.EncodeCertificate(issued);
        await AtomicFile.WriteAsync(certPath, pem, AtomicFile.PublicMode, ct);
        return (pem, Pem.EncodePrivateKey(newKey));
    }

    private static T? TryDecode<T>(string pem, Func<string, T> decode) where T : class
    {
        try { return decode(pem); }
        catch (PkiException) { return null; }
    }

    /// <summary>The operator's own certificate and key (<c>--tls-cert</c>/<c>--tls-key</c>); machines pin the last certificate of the chain file.</summary>
    public static ServingIdentity FromOperatorFiles(string certFile, string keyFile)
    {
        string certText, keyText;
        try { (certText, keyText) = (File.ReadAllText(certFile), File.ReadAllText(keyFile)); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new PkiException($"cannot read the TLS certificate or key: {e.Message}", e);
        }
        var chain = new X509Certificate2Collection();
        try
        {
            chain.ImportFromPem(certText);
            if (chain.Count == 0) throw new PkiException($"{certFile} holds no PEM certificate");
            using var loaded = X509Certificate2.CreateFromPem(certText, keyText);
            var serving = X509CertificateLoader.LoadPkcs12(loaded.Export(X509ContentType.Pkcs12), null);
            var anchor = chain[^1];
            return new ServingIdentity(anchor.ExportCertificatePem() + "\n", serving, null);
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            throw new PkiException($"{certFile} and {keyFile} are not a PEM certificate and its private key: {e.Message}", e);
        }
    }

    internal static ImmutableArray<string> DefaultDnsNames => ["localhost"];
}
