using System.Collections.Concurrent;
using Provisioner.Pki;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Pki;

/// <summary>One rendered tls/ dir per key algorithm, shared by the openssl checks.</summary>
public sealed class RenderedPkiFixture : IDisposable
{
    private readonly ConcurrentDictionary<KeyAlgorithm, Lazy<Task<(TempDir Dir, ClusterPkiPlan Plan)>>> _renders = new();

    internal Task<(TempDir Dir, ClusterPkiPlan Plan)> GetAsync(KeyAlgorithm algorithm) =>
        _renders.GetOrAdd(algorithm, a => new(async () =>
        {
            var dir = new TempDir();
            var plan = ClusterPkiPlan.For(TestProfiles.Standard(), new PkiOptions { KeyAlgorithm = a });
            await ClusterPki.RenderAsync(plan, dir.Path, TestContext.Current.CancellationToken);
            return (dir, plan);
        })).Value;

    public void Dispose()
    {
        foreach (var r in _renders.Values.Where(l => l.IsValueCreated && l.Value.IsCompletedSuccessfully))
            r.Value.Result.Dir.Dispose();
    }
}

/// <summary>Our certificates as openssl, an independent implementation, reads them.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class OpensslVerificationTests(RenderedPkiFixture fixture) : IClassFixture<RenderedPkiFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Theory]
    [InlineData(nameof(KeyAlgorithm.EcdsaP256))]
    [InlineData(nameof(KeyAlgorithm.Rsa2048))]
    public async Task Every_leaf_verifies_against_its_own_ca_for_its_purpose_and_not_against_another(string algorithmName)
    {
        var algorithm = Enum.Parse<KeyAlgorithm>(algorithmName);
        var (dir, plan) = await fixture.GetAsync(algorithm);
        var openssl = Requires.Program("openssl", "openssl");
        foreach (var leaf in plan.Leaves)
        {
            var caFile = dir[leaf.IssuerName + ".crt"];
            foreach (var purpose in Purposes(leaf.Usages))
            {
                var ok = await Programs.RunAsync(openssl, ["verify", "-purpose", purpose, "-CAfile", caFile, dir[leaf.CertificateFile]], Ct);
                Assert.True(ok.ExitCode == 0 && ok.Stdout.TrimEnd().EndsWith(": OK", StringComparison.Ordinal), $"{leaf.Name} ({purpose}): {ok}");
            }
            var otherCa = plan.Authorities.First(a => a.Name != leaf.IssuerName);
            var wrong = await Programs.RunAsync(openssl, ["verify", "-CAfile", dir[otherCa.CertificateFile], dir[leaf.CertificateFile]], Ct);
            Assert.True(wrong.ExitCode != 0, $"{leaf.Name} must not verify against {otherCa.Name}: {wrong}");
        }
    }

    [Theory]
    [InlineData(nameof(KeyAlgorithm.EcdsaP256), "Digital Signature")]
    [InlineData(nameof(KeyAlgorithm.Rsa2048), "Digital Signature, Key Encipherment")]
    public async Task Certificates_carry_the_planned_extensions(string algorithmName, string leafKeyUsage)
    {
        var algorithm = Enum.Parse<KeyAlgorithm>(algorithmName);
        var (dir, plan) = await fixture.GetAsync(algorithm);
        var skis = new Dictionary<string, string>();
        foreach (var ca in plan.Authorities)
        {
            var text = await OpensslCert.ReadAsync(dir[ca.CertificateFile], Ct);
            Assert.Equal(("CA:TRUE, pathlen:0", true), text.Extension("X509v3 Basic Constraints"));
            Assert.Equal(("Digital Signature, Certificate Sign, CRL Sign", true), text.Extension("X509v3 Key Usage"));
            Assert.Null(text.Extension("X509v3 Extended Key Usage"));
            skis[ca.Name] = text.Extension("X509v3 Subject Key Identifier")!.Value.Value;
            Assert.Equal(skis[ca.Name], KeyId(text));
            Assert.Equal($"CN = {ca.Subject.CommonName}", text.Subject);
        }
        foreach (var leaf in plan.Leaves)
        {
            var text = await OpensslCert.ReadAsync(dir[leaf.CertificateFile], Ct);
            Assert.Equal(("CA:FALSE", true), text.Extension("X509v3 Basic Constraints"));
            Assert.Equal((leafKeyUsage, true), text.Extension("X509v3 Key Usage"));
            Assert.Equal(Eku(leaf.Usages), text.List("X509v3 Extended Key Usage"));
            Assert.NotNull(text.Extension("X509v3 Subject Key Identifier"));
            Assert.Equal(skis[leaf.IssuerName!], KeyId(text));
            var (dns, ips) = text.Sans;
            Assert.Equal([.. leaf.DnsNames], dns);
            Assert.Equal([.. leaf.IpAddresses], ips);
            Assert.Equal(string.Join(", ", leaf.Subject.Organizations.Select(o => $"O = {o}").Append($"CN = {leaf.Subject.CommonName}")), text.Subject);
            Assert.Contains(algorithm == KeyAlgorithm.EcdsaP256 ? "ASN1 OID: prime256v1" : "Public-Key: (2048 bit)", text.Text);
        }
    }

    [Theory]
    [InlineData(nameof(KeyAlgorithm.EcdsaP256))]
    [InlineData(nameof(KeyAlgorithm.Rsa2048))]
    public async Task Every_key_file_is_pkcs8_0600_and_matches_its_certificate(string algorithmName)
    {
        var algorithm = Enum.Parse<KeyAlgorithm>(algorithmName);
        var (dir, plan) = await fixture.GetAsync(algorithm);
        foreach (var cert in plan.Certificates)
        {
            var fromKey = await Programs.OpensslAsync(Ct, "pkey", "-in", dir[cert.KeyFile], "-pubout");
            var fromCert = await Programs.OpensslAsync(Ct, "x509", "-in", dir[cert.CertificateFile], "-noout", "-pubkey");
            Assert.Equal(fromCert, fromKey);
            Assert.StartsWith("-----BEGIN PRIVATE KEY-----", await File.ReadAllTextAsync(dir[cert.KeyFile], Ct), StringComparison.Ordinal);
            if (!OperatingSystem.IsWindows())
                Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(dir[cert.KeyFile]));
        }
        var saPub = await Programs.OpensslAsync(Ct, "pkey", "-in", dir["sa.key"], "-pubout");
        Assert.Equal(saPub, await File.ReadAllTextAsync(dir["sa.pub"], Ct));
    }

    [Fact]
    public async Task Api_server_certificate_is_valid_for_in_cluster_names_and_ips_only()
    {
        var (dir, _) = await fixture.GetAsync(KeyAlgorithm.EcdsaP256);
        var openssl = Requires.Program("openssl", "openssl");
        async Task<ProcessResult> VerifyAsync(string flag, string value) =>
            await Programs.RunAsync(openssl, ["verify", "-purpose", "sslserver", "-CAfile", dir["ca.crt"], flag, value, dir["apiserver.crt"]], Ct);

        foreach (var (flag, value) in new[]
                 {
                     ("-verify_hostname", "kubernetes.default.svc.cluster.local"), ("-verify_hostname", "api.demo.example.com"),
                     ("-verify_ip", "10.96.0.1"), ("-verify_ip", "192.168.50.5"), ("-verify_ip", "fd00:50::12"), ("-verify_ip", "127.0.0.1"),
                 })
        {
            var ok = await VerifyAsync(flag, value);
            Assert.True(ok.ExitCode == 0, $"{flag} {value}: {ok}");
        }
        foreach (var (flag, value) in new[] { ("-verify_hostname", "worker1.demo.example.com"), ("-verify_ip", "192.168.50.21") })
        {
            var refused = await VerifyAsync(flag, value);
            Assert.True(refused.ExitCode != 0, $"{flag} {value} must be refused: {refused}");
        }
    }

    /// <summary>openssl's keyid for the Authority Key Identifier (older versions prefix it with "keyid:").</summary>
    private static string KeyId(OpensslCert text) =>
        text.Extension("X509v3 Authority Key Identifier")!.Value.Value.Replace("keyid:", "", StringComparison.Ordinal);

    private static IEnumerable<string> Purposes(ExtendedUsages usages)
    {
        if (usages.HasFlag(ExtendedUsages.ServerAuth)) yield return "sslserver";
        if (usages.HasFlag(ExtendedUsages.ClientAuth)) yield return "sslclient";
    }

    private static HashSet<string> Eku(ExtendedUsages usages)
    {
        var set = new HashSet<string>();
        if (usages.HasFlag(ExtendedUsages.ServerAuth)) set.Add("TLS Web Server Authentication");
        if (usages.HasFlag(ExtendedUsages.ClientAuth)) set.Add("TLS Web Client Authentication");
        return set;
    }
}
