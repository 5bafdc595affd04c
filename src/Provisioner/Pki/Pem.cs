using System.Text;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.X509;
using BcPemReader = Org.BouncyCastle.OpenSsl.PemReader;

namespace Provisioner.Pki;

/// <summary>
/// PEM encoding. Private keys are written as PKCS#8 (<c>PRIVATE KEY</c>): client-go's keyutil, Go's
/// <c>tls.X509KeyPair</c> (etcd, kubelet) and openssl all accept it for both RSA and ECDSA. Reading also
/// accepts the legacy <c>EC PRIVATE KEY</c> / <c>RSA PRIVATE KEY</c> forms for bring-your-own CAs.
/// </summary>
internal static class Pem
{
    public static string EncodeCertificate(X509Certificate certificate) => Encode("CERTIFICATE", certificate.GetEncoded());

    public static string EncodePrivateKey(PkiKeyPair key) =>
        Encode("PRIVATE KEY", PrivateKeyInfoFactory.CreatePrivateKeyInfo(key.Private).GetDerEncoded());

    public static string EncodePublicKey(PkiKeyPair key) =>
        Encode("PUBLIC KEY", SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(key.Public).GetDerEncoded());

    /// <summary>The first certificate in <paramref name="pem"/>.</summary>
    public static X509Certificate DecodeCertificate(string pem)
    {
        foreach (var obj in ReadObjects(pem))
            if (obj is X509Certificate cert) return cert;
        throw new PkiException("No CERTIFICATE block found.");
    }

    /// <summary>The first private key in <paramref name="pem"/> (PKCS#8, SEC1 or PKCS#1; unencrypted).</summary>
    public static PkiKeyPair DecodePrivateKey(string pem)
    {
        foreach (var obj in ReadObjects(pem))
        {
            switch (obj)
            {
                case AsymmetricCipherKeyPair pair: return PkiKeys.FromPrivate(pair.Private);
                case AsymmetricKeyParameter { IsPrivate: true } key: return PkiKeys.FromPrivate(key);
            }
        }
        throw new PkiException("No unencrypted PRIVATE KEY, EC PRIVATE KEY or RSA PRIVATE KEY block found.");
    }

    private static IEnumerable<object> ReadObjects(string pem)
    {
        var reader = new BcPemReader(new StringReader(pem));
        while (true)
        {
            object? obj;
            try
            {
                obj = reader.ReadObject();
            }
            catch (Exception e) when (e is IOException or Org.BouncyCastle.OpenSsl.PasswordException or ArgumentException or InvalidCastException)
            {
                throw new PkiException($"Malformed or encrypted PEM: {e.Message}", e);
            }
            if (obj is null) yield break;
            yield return obj;
        }
    }

    /// <summary>RFC 7468 layout with LF line endings, so output is byte-stable across platforms.</summary>
    private static string Encode(string type, byte[] der)
    {
        var b64 = Convert.ToBase64String(der);
        var sb = new StringBuilder(b64.Length + b64.Length / 64 + 64);
        sb.Append("-----BEGIN ").Append(type).Append("-----\n");
        for (var i = 0; i < b64.Length; i += 64)
            sb.Append(b64, i, Math.Min(64, b64.Length - i)).Append('\n');
        sb.Append("-----END ").Append(type).Append("-----\n");
        return sb.ToString();
    }
}
