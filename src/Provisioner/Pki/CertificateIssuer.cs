using System.Net;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.X509;
using Org.BouncyCastle.X509.Extension;

namespace Provisioner.Pki;

/// <summary>A CA certificate with the key that signs for it.</summary>
internal sealed record CertificateAuthority(X509Certificate Certificate, PkiKeyPair Key);

/// <summary>Issues X.509 v3 certificates with the extensions Kubernetes components expect.</summary>
internal static class CertificateIssuer
{
    /// <summary>Certificates start this far in the past so that machines with a slightly slow clock accept them.</summary>
    public static readonly TimeSpan ClockSkewAllowance = TimeSpan.FromMinutes(5);

    public static CertificateAuthority SelfSignedAuthority(CertificateSpec spec, PkiKeyPair key, TimeSpan validity, DateTimeOffset now)
    {
        if (!spec.IsAuthority) throw new ArgumentException($"{spec.Name} is not a CA.", nameof(spec));
        var name = ToX509Name(spec.Subject);
        var ski = SubjectKeyId(key);
        var gen = NewGenerator(name, name, key, now, now + validity);
        // pathlen 0: these CAs sign leaves only, never intermediates.
        gen.AddExtension(X509Extensions.BasicConstraints, true, new BasicConstraints(0));
        gen.AddExtension(X509Extensions.KeyUsage, true,
            new KeyUsage(KeyUsage.KeyCertSign | KeyUsage.CrlSign | KeyUsage.DigitalSignature));
        gen.AddExtension(X509Extensions.SubjectKeyIdentifier, false, new SubjectKeyIdentifier(ski));
        gen.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, new AuthorityKeyIdentifier(ski));
        return new CertificateAuthority(Sign(gen, key), key);
    }

    public static X509Certificate IssueLeaf(CertificateSpec spec, PkiKeyPair subjectKey, CertificateAuthority issuer, TimeSpan validity, DateTimeOffset now)
    {
        if (spec.IsAuthority) throw new ArgumentException($"{spec.Name} is a CA; use SelfSignedAuthority.", nameof(spec));
        // A leaf outliving its CA would be rejected anyway; clamp so the expiry check stays truthful.
        var notAfter = new DateTimeOffset(issuer.Certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        if (now + validity < notAfter) notAfter = now + validity;
        var gen = NewGenerator(issuer.Certificate.SubjectDN, ToX509Name(spec.Subject), subjectKey, now, notAfter);
        gen.AddExtension(X509Extensions.BasicConstraints, true, new BasicConstraints(false));
        gen.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(LeafKeyUsage(subjectKey)));
        if (spec.Usages != ExtendedUsages.None)
            gen.AddExtension(X509Extensions.ExtendedKeyUsage, false, new ExtendedKeyUsage(KeyPurposes(spec.Usages)));
        gen.AddExtension(X509Extensions.SubjectKeyIdentifier, false, new SubjectKeyIdentifier(SubjectKeyId(subjectKey)));
        gen.AddExtension(X509Extensions.AuthorityKeyIdentifier, false, new AuthorityKeyIdentifier(AuthorityKeyIdOf(issuer)));
        if (!spec.DnsNames.IsEmpty || !spec.IpAddresses.IsEmpty)
            gen.AddExtension(X509Extensions.SubjectAlternativeName, false, SubjectAltNames(spec));
        return Sign(gen, issuer.Key);
    }

    /// <summary>digitalSignature for TLS with ECDSA; RSA key exchange also needs keyEncipherment.</summary>
    internal static int LeafKeyUsage(PkiKeyPair key) =>
        KeyUsage.DigitalSignature | (key.IsRsa ? KeyUsage.KeyEncipherment : 0);

    internal static KeyPurposeID[] KeyPurposes(ExtendedUsages usages)
    {
        var list = new List<KeyPurposeID>();
        if (usages.HasFlag(ExtendedUsages.ServerAuth)) list.Add(KeyPurposeID.id_kp_serverAuth);
        if (usages.HasFlag(ExtendedUsages.ClientAuth)) list.Add(KeyPurposeID.id_kp_clientAuth);
        return [.. list];
    }

    internal static X509Name ToX509Name(CertificateSubject subject)
    {
        // O before CN, as Go's crypto/x509 orders them.
        var oids = new List<DerObjectIdentifier>();
        var values = new List<string>();
        foreach (var o in subject.Organizations)
        {
            oids.Add(X509Name.O);
            values.Add(o);
        }
        oids.Add(X509Name.CN);
        values.Add(subject.CommonName);
        return new X509Name(oids, values);
    }

    internal static byte[] SubjectKeyId(PkiKeyPair key) =>
        X509ExtensionUtilities.CreateSubjectKeyIdentifier(key.Public).GetKeyIdentifier();

    /// <summary>The CA's own SKI when it has one (a bring-your-own CA may use another method), else computed.</summary>
    private static byte[] AuthorityKeyIdOf(CertificateAuthority ca)
    {
        var ext = ca.Certificate.GetExtensionValue(X509Extensions.SubjectKeyIdentifier);
        return ext is null
            ? SubjectKeyId(ca.Key)
            : SubjectKeyIdentifier.GetInstance(X509ExtensionUtilities.FromExtensionValue(ext)).GetKeyIdentifier();
    }

    private static GeneralNames SubjectAltNames(CertificateSpec spec) =>
        new([
            .. spec.DnsNames.Select(d => new GeneralName(GeneralName.DnsName, d)),
            .. spec.IpAddresses.Select(ip => new GeneralName(GeneralName.IPAddress, new DerOctetString(Canonical(ip).GetAddressBytes()))),
        ]);

    /// <summary>IPv4-mapped IPv6 addresses are written as plain IPv4, which is how clients compare them.</summary>
    internal static IPAddress Canonical(IPAddress ip) => ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip;

    private static X509V3CertificateGenerator NewGenerator(X509Name issuer, X509Name subject, PkiKeyPair subjectKey, DateTimeOffset now, DateTimeOffset notAfter)
    {
        var gen = new X509V3CertificateGenerator();
        gen.SetSerialNumber(RandomSerial());
        gen.SetIssuerDN(issuer);
        gen.SetSubjectDN(subject);
        gen.SetNotBefore(TruncateToSeconds(now - ClockSkewAllowance));
        gen.SetNotAfter(TruncateToSeconds(notAfter));
        gen.SetPublicKey(subjectKey.Public);
        return gen;
    }

    private static X509Certificate Sign(X509V3CertificateGenerator gen, PkiKeyPair signer) =>
        gen.Generate(new Asn1SignatureFactory(PkiKeys.SignatureAlgorithm(signer.Private), signer.Private, PkiKeys.Random));

    /// <summary>128 random bits as a positive, non-zero integer (RFC 5280 allows up to 20 octets).</summary>
    private static BigInteger RandomSerial()
    {
        var bytes = new byte[16];
        BigInteger serial;
        do
        {
            PkiKeys.Random.NextBytes(bytes);
            serial = new BigInteger(1, bytes);
        } while (serial.SignValue == 0);
        return serial;
    }

    private static DateTime TruncateToSeconds(DateTimeOffset t) =>
        new(t.UtcTicks - t.UtcTicks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
}
