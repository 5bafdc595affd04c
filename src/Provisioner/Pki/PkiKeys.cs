using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Math.EC.Multiplier;
using Org.BouncyCastle.Security;

namespace Provisioner.Pki;

/// <summary>Key types the provisioner generates. ECDSA P-256 is the default: small, fast and accepted by every kube component.</summary>
internal enum KeyAlgorithm
{
    EcdsaP256,
    Rsa2048,
    Rsa3072,
    Rsa4096,
}

/// <summary>A private key and the public key derived from it.</summary>
internal sealed record PkiKeyPair(AsymmetricKeyParameter Private, AsymmetricKeyParameter Public)
{
    /// <summary>The algorithm when it is one the provisioner generates; null for other keys (e.g. a bring-your-own P-384 CA).</summary>
    public KeyAlgorithm? Algorithm => PkiKeys.AlgorithmOf(Public);

    public bool IsRsa => Public is RsaKeyParameters;

    /// <summary>Never prints key material, even if a pair ends up in a log line.</summary>
    public override string ToString() => $"PkiKeyPair({Algorithm?.ToString() ?? Public.GetType().Name})";

    /// <summary>True when <paramref name="publicKey"/> is this pair's public key (compared by value, not encoding).</summary>
    public bool Matches(AsymmetricKeyParameter publicKey) => (Public, publicKey) switch
    {
        (ECPublicKeyParameters a, ECPublicKeyParameters b) => a.Q.Equals(b.Q) && a.Parameters.Curve.Equals(b.Parameters.Curve),
        (RsaKeyParameters a, RsaKeyParameters b) => a.Modulus.Equals(b.Modulus) && a.Exponent.Equals(b.Exponent),
        _ => false,
    };
}

internal static class PkiKeys
{
    /// <summary>One generator for the whole process: seeding a SecureRandom is the expensive part.</summary>
    internal static SecureRandom Random { get; } = new();

    public static PkiKeyPair Generate(KeyAlgorithm algorithm)
    {
        if (algorithm != KeyAlgorithm.EcdsaP256) return GenerateRsa(RsaBits(algorithm));
        // Named-curve parameters, so the SPKI carries the curve OID: Go rejects explicit EC parameters.
        var generator = new ECKeyPairGenerator("EC");
        generator.Init(new ECKeyGenerationParameters(SecObjectIdentifiers.SecP256r1, Random));
        var pair = generator.GenerateKeyPair();
        return new PkiKeyPair(pair.Private, pair.Public);
    }

    /// <summary>
    /// RSA keys come from the platform (OpenSSL on Linux): BouncyCastle's prime search took seconds per 2048-bit
    /// key, OpenSSL's takes tens of milliseconds. The key is handed to BouncyCastle as CRT parameters, as if read from a file.
    /// </summary>
    private static PkiKeyPair GenerateRsa(int bits)
    {
        using var rsa = System.Security.Cryptography.RSA.Create(bits);
        var p = rsa.ExportParameters(includePrivateParameters: true);
        static BigInteger Unsigned(byte[]? bytes) => new(1, bytes!);
        var privateKey = new RsaPrivateCrtKeyParameters(Unsigned(p.Modulus), Unsigned(p.Exponent), Unsigned(p.D),
            Unsigned(p.P), Unsigned(p.Q), Unsigned(p.DP), Unsigned(p.DQ), Unsigned(p.InverseQ));
        return FromPrivate(privateKey);
    }

    /// <summary>Rebuilds the pair from a private key alone, as read from a <c>.key</c> file.</summary>
    public static PkiKeyPair FromPrivate(AsymmetricKeyParameter privateKey) => privateKey switch
    {
        ECPrivateKeyParameters ec => new PkiKeyPair(ec, new ECPublicKeyParameters(
            ec.AlgorithmName, new FixedPointCombMultiplier().Multiply(ec.Parameters.G, ec.D).Normalize(), ec.Parameters)),
        RsaPrivateCrtKeyParameters rsa => new PkiKeyPair(rsa, new RsaKeyParameters(false, rsa.Modulus, rsa.PublicExponent)),
        { IsPrivate: false } => throw new PkiException("Expected a private key but found a public key."),
        _ => throw new PkiException($"Unsupported private key type {privateKey.GetType().Name}; use ECDSA or RSA (with CRT parameters)."),
    };

    internal static KeyAlgorithm? AlgorithmOf(AsymmetricKeyParameter publicKey) => publicKey switch
    {
        ECPublicKeyParameters ec when ec.Parameters.Curve.FieldSize == 256 && ec.Parameters.Curve.Equals(P256.Curve) => KeyAlgorithm.EcdsaP256,
        RsaKeyParameters rsa => rsa.Modulus.BitLength switch
        {
            2048 => KeyAlgorithm.Rsa2048,
            3072 => KeyAlgorithm.Rsa3072,
            4096 => KeyAlgorithm.Rsa4096,
            _ => null,
        },
        _ => null,
    };

    /// <summary>The signature algorithm a key signs with: SHA-256 for P-256 and RSA, stronger hashes for larger curves.</summary>
    internal static string SignatureAlgorithm(AsymmetricKeyParameter privateKey) => privateKey switch
    {
        ECPrivateKeyParameters ec => ec.Parameters.Curve.FieldSize switch
        {
            <= 256 => "SHA256WITHECDSA",
            <= 384 => "SHA384WITHECDSA",
            _ => "SHA512WITHECDSA",
        },
        RsaKeyParameters => "SHA256WITHRSA",
        _ => throw new PkiException($"Cannot sign with a {privateKey.GetType().Name} key."),
    };

    private static readonly ECDomainParameters P256 = ECNamedDomainParameters.LookupOid(SecObjectIdentifiers.SecP256r1);

    private static int RsaBits(KeyAlgorithm algorithm) => algorithm switch
    {
        KeyAlgorithm.Rsa2048 => 2048,
        KeyAlgorithm.Rsa3072 => 3072,
        KeyAlgorithm.Rsa4096 => 4096,
        _ => throw new ArgumentOutOfRangeException(nameof(algorithm), algorithm, null),
    };
}

/// <summary>A PKI problem an operator has to resolve (missing CA key, mismatched pair, unreadable file).</summary>
internal sealed class PkiException(string message, Exception? inner = null) : Exception(message, inner);
