using Provisioner.Pki;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Pki;

public sealed class PrimitivesTests
{
    private static readonly DateTimeOffset Now = new(2030, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly CertificateSpec Leaf = new("leaf", "ca", new CertificateSubject("leaf", []), ExtendedUsages.ClientAuth, [], []);

    [Fact]
    public void Serials_are_random_positive_and_at_most_128_bits()
    {
        var key = PkiKeys.Generate(KeyAlgorithm.EcdsaP256);
        var serials = Enumerable.Range(0, 8)
            .Select(_ => CertificateIssuer.SelfSignedAuthority(CertificateSpec.Authority("ca", "x"), key, TimeSpan.FromDays(1), Now).Certificate.SerialNumber)
            .ToList();
        Assert.All(serials, s => Assert.True(s.SignValue > 0 && s.BitLength <= 128));
        Assert.Equal(serials.Count, serials.Distinct().Count());
        Assert.Contains(serials, s => s.BitLength > 120); // 8 draws all below 2^120 would be a 1-in-2^64 event
    }

    [Fact]
    public void Validity_is_backdated_five_minutes_and_leaves_never_outlive_their_ca()
    {
        var ca = CertificateIssuer.SelfSignedAuthority(CertificateSpec.Authority("ca", "x"), PkiKeys.Generate(KeyAlgorithm.EcdsaP256), TimeSpan.FromDays(3650), Now);
        Assert.Equal(Now.UtcDateTime.AddMinutes(-5), ca.Certificate.NotBefore.ToUniversalTime());
        Assert.Equal(Now.UtcDateTime.AddDays(3650), ca.Certificate.NotAfter.ToUniversalTime());

        var leaf = CertificateIssuer.IssueLeaf(Leaf, PkiKeys.Generate(KeyAlgorithm.EcdsaP256), ca, TimeSpan.FromDays(365), Now);
        Assert.Equal(Now.UtcDateTime.AddDays(365), leaf.NotAfter.ToUniversalTime());

        var shortCa = CertificateIssuer.SelfSignedAuthority(CertificateSpec.Authority("ca", "x"), PkiKeys.Generate(KeyAlgorithm.EcdsaP256), TimeSpan.FromDays(10), Now);
        var clamped = CertificateIssuer.IssueLeaf(Leaf, PkiKeys.Generate(KeyAlgorithm.EcdsaP256), shortCa, TimeSpan.FromDays(365), Now);
        Assert.Equal(shortCa.Certificate.NotAfter, clamped.NotAfter);
    }

    [Theory]
    [InlineData(nameof(KeyAlgorithm.EcdsaP256))]
    [InlineData(nameof(KeyAlgorithm.Rsa2048))]
    public void Private_key_pem_round_trips_as_pkcs8(string algorithmName)
    {
        var algorithm = Enum.Parse<KeyAlgorithm>(algorithmName);
        var key = PkiKeys.Generate(algorithm);
        var pem = Pem.EncodePrivateKey(key);
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----\n", pem, StringComparison.Ordinal);
        var decoded = Pem.DecodePrivateKey(pem);
        Assert.True(decoded.Matches(key.Public));
        Assert.Equal(algorithm, decoded.Algorithm);
        Assert.False(decoded.Matches(PkiKeys.Generate(algorithm).Public));
    }

    [Fact]
    public void Certificate_pem_round_trips()
    {
        var ca = CertificateIssuer.SelfSignedAuthority(CertificateSpec.Authority("ca", "x"), PkiKeys.Generate(KeyAlgorithm.EcdsaP256), TimeSpan.FromDays(1), Now);
        var pem = Pem.EncodeCertificate(ca.Certificate);
        Assert.Equal(ca.Certificate, Pem.DecodeCertificate(pem));
        Assert.Throws<PkiException>(() => Pem.DecodeCertificate(Pem.EncodePrivateKey(ca.Key)));
    }

    [Theory]
    [Trait(Category.Name, Category.Integration)]
    [InlineData("ecparam -name prime256v1 -genkey -noout -out {out}", "EC PRIVATE KEY", nameof(KeyAlgorithm.EcdsaP256))]
    [InlineData("genrsa -traditional -out {out} 3072", "RSA PRIVATE KEY", nameof(KeyAlgorithm.Rsa3072))]
    public async Task Reads_legacy_openssl_key_formats_for_bring_your_own_ca(string command, string pemType, string expectedName)
    {
        var expected = Enum.Parse<KeyAlgorithm>(expectedName);
        var ct = TestContext.Current.CancellationToken;
        using var dir = new TempDir();
        await Programs.OpensslAsync(ct, command.Replace("{out}", dir["k.pem"], StringComparison.Ordinal).Split(' '));
        var pem = await File.ReadAllTextAsync(dir["k.pem"], ct);
        Assert.Contains($"BEGIN {pemType}", pem);

        var key = Pem.DecodePrivateKey(pem);
        Assert.Equal(expected, key.Algorithm);
        await File.WriteAllTextAsync(dir["ours.pub"], Pem.EncodePublicKey(key), ct);
        var theirs = await Programs.OpensslAsync(ct, "pkey", "-in", dir["k.pem"], "-pubout");
        Assert.Equal(theirs, await File.ReadAllTextAsync(dir["ours.pub"], ct));
    }

    [Fact]
    [Trait(Category.Name, Category.Integration)]
    public async Task Encrypted_key_is_a_clear_error()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dir = new TempDir();
        await Programs.OpensslAsync(ct, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-aes256", "-pass", "pass:secret", "-out", dir["k.pem"]);
        var e = Assert.Throws<PkiException>(() => Pem.DecodePrivateKey(File.ReadAllText(dir["k.pem"])));
        Assert.Contains("ncrypted", e.Message); // "encrypted" or "unencrypted", never a silent null
    }

    [Fact]
    public void Key_pairs_rebuilt_from_a_private_key_keep_the_named_curve()
    {
        var key = PkiKeys.Generate(KeyAlgorithm.EcdsaP256);
        var rebuilt = PkiKeys.FromPrivate(key.Private);
        Assert.Equal(Pem.EncodePublicKey(key), Pem.EncodePublicKey(rebuilt));
        Assert.IsType<Org.BouncyCastle.Crypto.Parameters.ECNamedDomainParameters>(
            ((Org.BouncyCastle.Crypto.Parameters.ECPublicKeyParameters)rebuilt.Public).Parameters);
    }
}
