using Provisioner.Pki;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Pki;

[Trait(Category.Name, Category.Integration)]
public sealed class BringYourOwnCaTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Operator_cas_made_by_openssl_in_legacy_key_formats_are_used_and_kept()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["etcd"]);
        // Kubernetes CA: RSA in PKCS#1; etcd CA: ECDSA in SEC1 — both as an operator's own tooling makes them.
        await Programs.OpensslAsync(Ct, "genrsa", "-traditional", "-out", dir["ca.key"], "2048");
        await Programs.OpensslAsync(Ct, "req", "-x509", "-new", "-key", dir["ca.key"], "-out", dir["ca.crt"], "-days", "3650", "-subj", "/O=Example Corp/CN=example-kubernetes-ca");
        await Programs.OpensslAsync(Ct, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", dir["etcd/ca.key"]);
        await Programs.OpensslAsync(Ct, "req", "-x509", "-new", "-key", dir["etcd/ca.key"], "-out", dir["etcd/ca.crt"], "-days", "3650", "-subj", "/CN=example-etcd-ca");
        var caFiles = new[] { "ca.crt", "ca.key", "etcd/ca.crt", "etcd/ca.key" }.ToDictionary(f => f, f => File.ReadAllText(dir[f]));

        var plan = ClusterPkiPlan.For(TestProfiles.Standard(), new PkiOptions());
        var result = await ClusterPki.RenderAsync(plan, dir.Path, Ct);

        Assert.Equal(["ca", "etcd/ca"], result.Reused);
        Assert.Contains("front-proxy-ca", result.Created);
        foreach (var (file, content) in caFiles)
            Assert.Equal(content, await File.ReadAllTextAsync(dir[file], Ct));

        foreach (var (leaf, ca) in new[] { ("apiserver.crt", "ca.crt"), ("admin.crt", "ca.crt"), ("etcd/cp1/server.crt", "etcd/ca.crt"), ("apiserver-etcd-client.crt", "etcd/ca.crt") })
        {
            var verified = await Programs.OpensslAsync(Ct, "verify", "-CAfile", dir[ca], dir[leaf]);
            Assert.EndsWith(": OK", verified.TrimEnd(), StringComparison.Ordinal);
        }
        var apiserver = await OpensslCert.ReadAsync(dir["apiserver.crt"], Ct);
        Assert.Contains("Issuer: O = Example Corp, CN = example-kubernetes-ca", apiserver.Text);
        Assert.Contains("ecdsa-with-SHA256", await Programs.OpensslAsync(Ct, "x509", "-in", dir["etcd/cp1/peer.crt"], "-noout", "-text"));
        Assert.Contains("sha256WithRSAEncryption", apiserver.Text);

        var again = await ClusterPki.RenderAsync(plan, dir.Path, Ct);
        Assert.All(again.Items, i => Assert.Equal(PkiAction.Reused, i.Action));
    }
}
