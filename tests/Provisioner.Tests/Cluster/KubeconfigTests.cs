using System.Text;
using k8s;
using Provisioner.Pki;

namespace Provisioner.Tests.Cluster;

/// <summary>The rendered kubeconfigs load with KubernetesClient and carry the right identity, CA and server.</summary>
public sealed class KubeconfigTests(ExampleClusterFixture rendered) : IClassFixture<ExampleClusterFixture>
{
    private readonly RenderedCluster _cluster = rendered.Cluster;

    [Theory]
    [InlineData("auth/admin.kubeconfig", "admin", "https://api.demo.example.test:6443", "kubernetes-admin", "system:masters")]
    [InlineData("auth/controller-manager.kubeconfig", "controller-manager", "https://127.0.0.1:6443", "system:kube-controller-manager", null)]
    [InlineData("auth/scheduler.kubeconfig", "scheduler", "https://127.0.0.1:6443", "system:kube-scheduler", null)]
    [InlineData("auth/provisioner-approver.kubeconfig", "provisioner-approver", "https://api.demo.example.test:6443", "provisioner:approver", null)]
    public void Certificate_kubeconfig_loads_and_embeds_the_rendered_client_certificate(string file, string tls, string server, string cn, string? group)
    {
        var loaded = KubernetesClientConfiguration.LoadKubeConfig(new FileInfo(_cluster[file]));
        var config = KubernetesClientConfiguration.BuildConfigFromConfigObject(loaded);
        Assert.Equal(server, config.Host);
        Assert.Equal(_cluster.Read($"tls/{tls}.crt"), Decode(config.ClientCertificateData));
        Assert.Equal(_cluster.Read($"tls/{tls}.key"), Decode(config.ClientCertificateKeyData));
        Assert.Equal(_cluster.Read("tls/ca.crt"), Pem.EncodeCertificate(new Org.BouncyCastle.X509.X509Certificate(config.SslCaCerts[0].RawData)));
        var subject = Pem.DecodeCertificate(Decode(config.ClientCertificateData)).SubjectDN.ToString();
        Assert.Contains("CN=" + cn, subject);
        if (group is null) Assert.DoesNotContain("O=", subject);
        else Assert.Contains("O=" + group, subject);
        Assert.Equal(Convert.ToString(Convert.ToInt32("600", 8), 8), Convert.ToString((int)File.GetUnixFileMode(_cluster[file]), 8));
    }

    [Fact]
    public void Each_joining_machine_gets_a_bootstrap_kubeconfig_with_its_own_token()
    {
        foreach (var machine in new[] { "cp-0", "worker-0" })
        {
            var files = IgnitionFiles.Decode(_cluster.Read($"ignition/{machine}.ign"));
            var text = files["/etc/kubernetes/bootstrap-kubelet.kubeconfig"].Text;
            var loaded = KubernetesYaml.Deserialize<k8s.KubeConfigModels.K8SConfiguration>(text);
            var config = KubernetesClientConfiguration.BuildConfigFromConfigObject(loaded);
            var token = _cluster.Tokens.FindForMachine(machine)!;
            Assert.Equal(token.Value, config.AccessToken);
            Assert.Matches("^[a-z0-9]{6}\\.[a-z0-9]{16}$", config.AccessToken);
            Assert.Equal("https://api.demo.example.test:6443", config.Host);
            Assert.Equal(_cluster.Read("tls/ca.crt"), Pem.EncodeCertificate(new Org.BouncyCastle.X509.X509Certificate(config.SslCaCerts[0].RawData)));
        }
        Assert.NotEqual(_cluster.Tokens.FindForMachine("cp-0")!.Id, _cluster.Tokens.FindForMachine("worker-0")!.Id);
        Assert.Null(_cluster.Tokens.FindForMachine("bootstrap-0"));
    }

    private static string Decode(string base64) => Encoding.ASCII.GetString(Convert.FromBase64String(base64));
}
