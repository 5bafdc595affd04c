using System.Collections.Immutable;
using System.Net;
using System.Text;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Math;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Provisioner.Approval;

namespace Provisioner.Tests.Approval;

/// <summary>
/// The world every CSR test starts from: machines worker-0 (10.0.0.10) and worker-1 (10.0.0.11)
/// fetched their Ignition an hour ago, each holds its own bootstrap token, no Node exists yet, and
/// each has just the one CSR under test pending.
/// </summary>
internal static class World
{
    public static readonly DateTimeOffset Now = new(2025, 6, 1, 12, 0, 0, TimeSpan.Zero);
    public const string Domain = "lab.example.com";
    public const string Worker0Token = "w0tok1";
    public const string Worker1Token = "w1tok1";
    public static readonly IPAddress Worker0Ip = IPAddress.Parse("10.0.0.10");
    public static readonly IPAddress Worker1Ip = IPAddress.Parse("10.0.0.11");

    public static MachineFacts Machine(string name, IPAddress ip, DateTimeOffset? lastIgnition) =>
        new(name, [name, $"{name}.{Domain}"], [ip], lastIgnition);

    public static InventorySnapshot Inventory { get; } = new(
        Machines: [Machine("worker-0", Worker0Ip, Now.AddHours(-1)), Machine("worker-1", Worker1Ip, Now.AddHours(-1))],
        BootstrapTokenMachines: ImmutableDictionary<string, string>.Empty
            .Add(Worker0Token, "worker-0")
            .Add(Worker1Token, "worker-1"),
        Nodes: [],
        PendingByMachine: ImmutableDictionary<string, int>.Empty.Add("worker-0", 1).Add("worker-1", 1),
        TotalPending: 2);

    public static InventorySnapshot WithNode(this InventorySnapshot inventory, string name, params IPAddress[] addresses) =>
        inventory with { Nodes = inventory.Nodes.Add(new NodeFacts(name, [.. addresses])) };

    public static InventorySnapshot WithLastIgnition(this InventorySnapshot inventory, string machine, DateTimeOffset? fetched) =>
        inventory with { Machines = [.. inventory.Machines.Select(m => m.Name == machine ? m with { LastIgnitionFetch = fetched } : m)] };

    public static InventorySnapshot WithPending(this InventorySnapshot inventory, string machine, int pending, int total) =>
        inventory with { PendingByMachine = inventory.PendingByMachine.SetItem(machine, pending), TotalPending = total };
}

/// <summary>CsrFacts as the API server would report them for the usual requesters.</summary>
internal static class Requests
{
    public static readonly ImmutableArray<string> ClientUsages = ["digital signature", "client auth"];
    public static readonly ImmutableArray<string> ServingUsages = ["digital signature", "server auth"];

    public static CsrFacts FirstJoin(string pem, string tokenId = World.Worker0Token) =>
        new("csr-first-join", CsrSigners.KubeletClient, Encoding.ASCII.GetBytes(pem), ClientUsages,
            $"system:bootstrap:{tokenId}", ["system:bootstrappers", "system:authenticated"], World.Now);

    public static CsrFacts Renewal(string pem, string node = "worker-0") =>
        new("csr-renewal", CsrSigners.KubeletClient, Encoding.ASCII.GetBytes(pem), ClientUsages,
            $"system:node:{node}", ["system:nodes", "system:authenticated"], World.Now);

    public static CsrFacts Serving(string pem, string node = "worker-0") =>
        new("csr-serving", CsrSigners.KubeletServing, Encoding.ASCII.GetBytes(pem), ServingUsages,
            $"system:node:{node}", ["system:nodes", "system:authenticated"], World.Now);
}

/// <summary>Key pairs are slow to make (RSA especially), so each kind is made once per test run.</summary>
internal static class TestKeys
{
    private static readonly SecureRandom Random = new();
    private static readonly Lazy<AsymmetricCipherKeyPair> p256 = new(() => Ec(SecObjectIdentifiers.SecP256r1));
    private static readonly Lazy<AsymmetricCipherKeyPair> p384 = new(() => Ec(SecObjectIdentifiers.SecP384r1));
    private static readonly Lazy<AsymmetricCipherKeyPair> p521 = new(() => Ec(SecObjectIdentifiers.SecP521r1));
    private static readonly Lazy<AsymmetricCipherKeyPair> rsa2048 = new(() => Rsa(2048));
    private static readonly Lazy<AsymmetricCipherKeyPair> rsa1024 = new(() => Rsa(1024));

    public static AsymmetricCipherKeyPair P256 => p256.Value;
    public static AsymmetricCipherKeyPair P384 => p384.Value;
    public static AsymmetricCipherKeyPair P521 => p521.Value;
    public static AsymmetricCipherKeyPair Rsa2048 => rsa2048.Value;
    public static AsymmetricCipherKeyPair Rsa1024 => rsa1024.Value;

    private static AsymmetricCipherKeyPair Ec(DerObjectIdentifier curve)
    {
        var generator = new ECKeyPairGenerator();
        generator.Init(new ECKeyGenerationParameters(curve, Random));
        return generator.GenerateKeyPair();
    }

    /// <summary>From the platform's OpenSSL: BouncyCastle's own RSA generator took seconds per key.</summary>
    private static AsymmetricCipherKeyPair Rsa(int bits)
    {
        using var rsa = System.Security.Cryptography.RSA.Create(bits);
        var p = rsa.ExportParameters(includePrivateParameters: true);
        static BigInteger Unsigned(byte[]? bytes) => new(1, bytes!);
        return new AsymmetricCipherKeyPair(new RsaKeyParameters(false, Unsigned(p.Modulus), Unsigned(p.Exponent)),
            new RsaPrivateCrtKeyParameters(Unsigned(p.Modulus), Unsigned(p.Exponent), Unsigned(p.D),
                Unsigned(p.P), Unsigned(p.Q), Unsigned(p.DP), Unsigned(p.DQ), Unsigned(p.InverseQ)));
    }
}

/// <summary>A PKCS#10 request built with BouncyCastle; the defaults are a well-formed kubelet client CSR for worker-0.</summary>
internal sealed record CsrSpec
{
    public AsymmetricCipherKeyPair Key { get; init; } = TestKeys.P256;
    public ImmutableArray<(DerObjectIdentifier Type, string Value)> Subject { get; init; } = NodeSubject("worker-0");
    public ImmutableArray<GeneralName> Sans { get; init; } = [];
    public bool BasicConstraintsCa { get; init; }
    public bool KeyCertSign { get; init; }
    public bool CorruptSignature { get; init; }

    /// <summary>The subject in the order kubelets and <c>openssl -subj "/O=…/CN=…"</c> produce.</summary>
    public static ImmutableArray<(DerObjectIdentifier, string)> NodeSubject(string node) =>
        [(X509Name.O, "system:nodes"), (X509Name.CN, $"system:node:{node}")];

    public static GeneralName Dns(string name) => new(GeneralName.DnsName, name);
    public static GeneralName Ip(string ip) => new(GeneralName.IPAddress, ip);
    public static GeneralName Email(string address) => new(GeneralName.Rfc822Name, address);
    public static GeneralName Uri(string uri) => new(GeneralName.UniformResourceIdentifier, uri);

    public string Pem()
    {
        var subject = new X509Name([.. Subject.Select(a => a.Type)], [.. Subject.Select(a => a.Value)]);
        var algorithm = Key.Public is RsaKeyParameters ? "SHA256WITHRSA" : "SHA256WITHECDSA";
        var request = new Pkcs10CertificationRequest(new Asn1SignatureFactory(algorithm, Key.Private), subject, Key.Public, Attributes());
        var der = request.GetEncoded();
        // The DER ends with the signature's last byte; flipping it keeps the encoding valid but the signature wrong.
        if (CorruptSignature) der[^1] ^= 0x01;
        return ToPem(der);
    }

    public static string ToPem(byte[] der) =>
        $"-----BEGIN CERTIFICATE REQUEST-----\n{Convert.ToBase64String(der, Base64FormattingOptions.InsertLineBreaks)}\n-----END CERTIFICATE REQUEST-----\n";

    private DerSet? Attributes()
    {
        var extensions = new X509ExtensionsGenerator();
        if (!Sans.IsEmpty) extensions.AddExtension(X509Extensions.SubjectAlternativeName, false, new GeneralNames([.. Sans]));
        if (BasicConstraintsCa) extensions.AddExtension(X509Extensions.BasicConstraints, true, new BasicConstraints(true));
        if (KeyCertSign) extensions.AddExtension(X509Extensions.KeyUsage, true, new KeyUsage(KeyUsage.DigitalSignature | KeyUsage.KeyCertSign));
        if (extensions.IsEmpty) return null;
        return new DerSet(new AttributePkcs(PkcsObjectIdentifiers.Pkcs9AtExtensionRequest, new DerSet(extensions.Generate())));
    }
}
