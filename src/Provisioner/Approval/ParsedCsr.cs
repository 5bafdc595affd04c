using System.Collections.Immutable;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Pkcs;
using PemReader = Org.BouncyCastle.Utilities.IO.Pem.PemReader;

namespace Provisioner.Approval;

/// <summary>One subject RDN; <see cref="Value"/> is null when the attribute is not a string.</summary>
internal sealed record SubjectAttribute(DerObjectIdentifier Type, string? Value, bool MultiValued);

internal enum SanKind { Dns, Ip, Email, Uri, Other }

internal sealed record SubjectAltName(SanKind Kind, string Value, IPAddress? Ip = null);

/// <summary>
/// The parts of a PKCS#10 request the policy judges, read straight from the ASN.1 so nothing is
/// normalised away (RDN order and multi-valued RDNs stay visible).
/// </summary>
internal sealed record ParsedCsr(
    ImmutableArray<SubjectAttribute> Subject,
    ImmutableArray<SubjectAltName> SubjectAltNames,
    string? CaUse,
    AsymmetricKeyParameter PublicKey)
{
    private static readonly DerObjectIdentifier ExtensionRequest = PkcsObjectIdentifiers.Pkcs9AtExtensionRequest;

    private Lazy<bool> _signatureValid = new(() => false);

    /// <summary>
    /// Whether the request is signed by its own key; verified on first use, once (the approver reads who every
    /// pending request is for, but verifies each only when it decides it).
    /// </summary>
    public bool SignatureValid => _signatureValid.Value;

    public static ParsedCsr? TryParse(ReadOnlyMemory<byte> pem, out string error)
    {
        try
        {
            return Parse(pem, out error);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // The request is attacker-controlled and BouncyCastle reports malformed ASN.1 through many
            // exception types; whatever fails, the request is unparseable and the worker must carry on.
            error = e.Message;
            return null;
        }
    }

    private static ParsedCsr? Parse(ReadOnlyMemory<byte> pem, out string error)
    {
        using var reader = new PemReader(new StringReader(Encoding.ASCII.GetString(pem.Span)));
        var block = reader.ReadPemObject();
        if (block is null)
        {
            error = "no PEM block";
            return null;
        }
        if (block.Type is not ("CERTIFICATE REQUEST" or "NEW CERTIFICATE REQUEST"))
        {
            error = $"PEM block is '{block.Type}', not a CERTIFICATE REQUEST";
            return null;
        }

        var request = new Pkcs10CertificationRequest(block.Content);
        var info = request.GetCertificationRequestInfo();
        var extensions = RequestedExtensions(info.Attributes);

        error = "";
        return new ParsedCsr(
            SubjectAttributes(info),
            extensions is null ? [] : ReadSubjectAltNames(extensions),
            extensions is null ? null : DescribeCaUse(extensions),
            request.GetPublicKey())
        {
            _signatureValid = new Lazy<bool>(() => VerifiesItself(request)),
        };
    }

    private static bool VerifiesItself(Pkcs10CertificationRequest request)
    {
        // Native verification (OpenSSL underneath) is ~50x faster than BouncyCastle's managed EC code, and a
        // join storm verifies one signature per machine. Only a "valid" from it is taken; anything it rejects
        // or cannot handle is left to BouncyCastle, whose answer stands.
        try
        {
            if (VerifiesNatively(request)) return true;
        }
        catch (CryptographicException) { }

        // A mangled signature may fail to decode rather than fail to verify; both mean "not signed by this key".
        try
        {
            return request.Verify();
        }
        catch (Exception)
        {
            return false;
        }
    }

    private static bool VerifiesNatively(Pkcs10CertificationRequest request)
    {
        var info = request.GetCertificationRequestInfo();
        var signed = info.GetDerEncoded();
        var spki = info.SubjectPublicKeyInfo.GetDerEncoded();
        var signature = request.GetSignatureOctets();
        switch (request.SignatureAlgorithm.Algorithm.Id)
        {
            case "1.2.840.10045.4.3.2" or "1.2.840.10045.4.3.3" or "1.2.840.10045.4.3.4":
            {
                using var key = ECDsa.Create();
                key.ImportSubjectPublicKeyInfo(spki, out _);
                return key.VerifyData(signed, signature, EcdsaHash(request.SignatureAlgorithm.Algorithm.Id), DSASignatureFormat.Rfc3279DerSequence);
            }
            case "1.2.840.113549.1.1.11" or "1.2.840.113549.1.1.12" or "1.2.840.113549.1.1.13":
            {
                using var key = RSA.Create();
                key.ImportSubjectPublicKeyInfo(spki, out _);
                return key.VerifyData(signed, signature, RsaHash(request.SignatureAlgorithm.Algorithm.Id), RSASignaturePadding.Pkcs1);
            }
            default:
                return false;
        }
    }

    private static HashAlgorithmName EcdsaHash(string oid) => oid[^1] switch
    {
        '2' => HashAlgorithmName.SHA256,
        '3' => HashAlgorithmName.SHA384,
        _ => HashAlgorithmName.SHA512,
    };

    private static HashAlgorithmName RsaHash(string oid) => oid[^2..] switch
    {
        "11" => HashAlgorithmName.SHA256,
        "12" => HashAlgorithmName.SHA384,
        _ => HashAlgorithmName.SHA512,
    };

    private static ImmutableArray<SubjectAttribute> SubjectAttributes(CertificationRequestInfo info)
    {
        // CertificationRequestInfo ::= SEQUENCE { version, subject Name, subjectPKInfo, [0] attributes }
        var name = Asn1Sequence.GetInstance(Asn1Sequence.GetInstance(info.ToAsn1Object())[1]);
        var result = ImmutableArray.CreateBuilder<SubjectAttribute>();
        foreach (var rdnEncodable in name)
        {
            var rdn = Asn1Set.GetInstance(rdnEncodable);
            foreach (var atvEncodable in rdn)
            {
                var atv = Asn1Sequence.GetInstance(atvEncodable);
                var value = atv[1] is IAsn1String s ? s.GetString() : null;
                result.Add(new SubjectAttribute(DerObjectIdentifier.GetInstance(atv[0]), value, rdn.Count != 1));
            }
        }
        return result.ToImmutable();
    }

    private static X509Extensions? RequestedExtensions(Asn1Set? attributes)
    {
        if (attributes is null) return null;
        X509Extensions? found = null;
        foreach (var encodable in attributes)
        {
            var attribute = AttributePkcs.GetInstance(encodable);
            if (!attribute.AttrType.Equals(ExtensionRequest)) continue;
            if (found is not null || attribute.AttrValues.Count != 1)
                throw new ArgumentException("more than one extensionRequest");
            found = X509Extensions.GetInstance(attribute.AttrValues[0]);
        }
        return found;
    }

    private static Asn1Object? ParsedValue(X509Extensions extensions, DerObjectIdentifier oid) =>
        extensions.GetExtension(oid) is { } extension ? Asn1Object.FromByteArray(extension.Value.GetOctets()) : null;

    /// <summary>Why the request asks for a CA certificate, or null when it does not.</summary>
    private static string? DescribeCaUse(X509Extensions extensions)
    {
        if (ParsedValue(extensions, X509Extensions.BasicConstraints) is { } bc && BasicConstraints.GetInstance(bc).IsCA())
            return "basicConstraints CA:true";
        if (ParsedValue(extensions, X509Extensions.KeyUsage) is { } ku)
        {
            var bits = KeyUsage.GetInstance(ku).IntValue;
            if ((bits & KeyUsage.KeyCertSign) != 0) return "keyUsage keyCertSign";
            if ((bits & KeyUsage.CrlSign) != 0) return "keyUsage cRLSign";
        }
        if (extensions.GetExtension(X509Extensions.NameConstraints) is not null)
            return "nameConstraints";
        return null;
    }

    private static ImmutableArray<SubjectAltName> ReadSubjectAltNames(X509Extensions extensions)
    {
        if (ParsedValue(extensions, X509Extensions.SubjectAlternativeName) is not { } san) return [];
        return [.. GeneralNames.GetInstance(san).GetNames().Select(ToSubjectAltName)];
    }

    private static SubjectAltName ToSubjectAltName(GeneralName name) => name.TagNo switch
    {
        GeneralName.DnsName => new(SanKind.Dns, DerIA5String.GetInstance(name.Name).GetString()),
        GeneralName.IPAddress => IpSan(Asn1OctetString.GetInstance(name.Name).GetOctets()),
        GeneralName.Rfc822Name => new(SanKind.Email, DerIA5String.GetInstance(name.Name).GetString()),
        GeneralName.UniformResourceIdentifier => new(SanKind.Uri, DerIA5String.GetInstance(name.Name).GetString()),
        _ => new(SanKind.Other, $"GeneralName tag {name.TagNo}"),
    };

    private static SubjectAltName IpSan(byte[] octets)
    {
        if (octets.Length is not (4 or 16)) throw new ArgumentException($"IP SAN of {octets.Length} bytes");
        var ip = new IPAddress(octets);
        if (ip.IsIPv4MappedToIPv6) ip = ip.MapToIPv4();
        return new(SanKind.Ip, ip.ToString(), ip);
    }
}
