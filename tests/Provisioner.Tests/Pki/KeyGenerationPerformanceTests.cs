using System.Diagnostics;
using Provisioner.Pki;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Pki;

[Trait(Category.Name, Category.Integration)]
public sealed class KeyGenerationPerformanceTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Ecdsa_key_generation_is_within_one_and_a_half_times_openssl()
    {
        var ct = TestContext.Current.CancellationToken;
        using var dir = new TempDir();
        for (var i = 0; i < 20; i++) PkiKeys.Generate(KeyAlgorithm.EcdsaP256); // JIT and curve precomputation

        const int keys = 20;
        var openssl = Requires.Program("openssl", "openssl");
        var ours = Stopwatch.StartNew();
        for (var i = 0; i < keys; i++)
        {
            var key = PkiKeys.Generate(KeyAlgorithm.EcdsaP256);
            await File.WriteAllTextAsync(dir[$"ours{i}.key"], Pem.EncodePrivateKey(key), ct);
        }
        ours.Stop();
        var theirs = Stopwatch.StartNew();
        for (var i = 0; i < keys; i++)
        {
            var r = await Programs.RunAsync(openssl, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", dir[$"theirs{i}.key"]], ct);
            Assert.Equal(0, r.ExitCode);
        }
        theirs.Stop();
        output.WriteLine($"ECDSA P-256 key + PEM file: BouncyCastle {ours.Elapsed.TotalMilliseconds / keys:F2} ms, openssl genpkey {theirs.Elapsed.TotalMilliseconds / keys:F2} ms");
        Assert.True(ours.Elapsed < theirs.Elapsed * 1.5, $"BouncyCastle {ours.Elapsed} vs openssl {theirs.Elapsed} for {keys} keys");
    }
}
