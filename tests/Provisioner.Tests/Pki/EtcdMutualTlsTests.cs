using Provisioner.Pki;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Pki;

/// <summary>The rendered etcd certificates run a real etcd with client-cert auth.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class EtcdMutualTlsTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Etcd_accepts_the_api_server_client_and_refuses_a_kubernetes_ca_client()
    {
        var etcd = Requires.Program("etcd", "etcd-server");
        var etcdctl = Requires.Program("etcdctl", "etcd-client");
        using var dir = new TempDir();
        var profiles = TestProfiles.Standard() with { Machines = [TestProfiles.Machine("cp1", "control-plane", "127.0.0.1")] };
        await ClusterPki.RenderAsync(ClusterPkiPlan.For(profiles, new PkiOptions()), dir.Path, Ct);

        var (clientPort, peerPort) = (FreePort.Tcp(), FreePort.Tcp());
        var client = $"https://127.0.0.1:{clientPort}";
        var peer = $"https://127.0.0.1:{peerPort}";
        await using var server = EtcdProcess.Start(etcd,
            [
                "--name", "cp1", "--data-dir", dir["data"],
                "--listen-client-urls", client, "--advertise-client-urls", client,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", $"cp1={peer}", "--initial-cluster-state", "new",
                "--cert-file", dir["etcd/cp1/server.crt"], "--key-file", dir["etcd/cp1/server.key"],
                "--client-cert-auth", "--trusted-ca-file", dir["etcd/ca.crt"],
                "--peer-cert-file", dir["etcd/cp1/peer.crt"], "--peer-key-file", dir["etcd/cp1/peer.key"],
                "--peer-client-cert-auth", "--peer-trusted-ca-file", dir["etcd/ca.crt"],
            ]);
        Task<ProcessResult> Ctl(string certName, params string[] command) => Programs.RunAsync(etcdctl,
        [
            "--endpoints", client, "--cacert", dir["etcd/ca.crt"],
            "--cert", dir[certName + ".crt"], "--key", dir[certName + ".key"],
            "--dial-timeout", "3s", "--command-timeout", "5s", .. command,
        ], Ct);

        await server.UntilSucceedsAsync(() => Ctl("apiserver-etcd-client", "put", "/provisioner/probe", "hello"), "the api server client", Ct);
        var get = await Ctl("apiserver-etcd-client", "get", "/provisioner/probe");
        Assert.Equal("/provisioner/probe\nhello\n", get.Stdout);

        var intruder = await Ctl("admin", "put", "/provisioner/probe", "intruder");
        Assert.True(intruder.ExitCode != 0, $"a kubernetes-CA client must be refused: {intruder}");
        var frontProxy = await Ctl("front-proxy-client", "get", "/provisioner/probe");
        Assert.True(frontProxy.ExitCode != 0 && !frontProxy.Stdout.Contains("hello", StringComparison.Ordinal), $"a front-proxy-CA client must be refused: {frontProxy}");

        var after = await Ctl("etcd/healthcheck-client", "get", "/provisioner/probe");
        Assert.Equal("/provisioner/probe\nhello\n", after.Stdout); // server still up, value untouched
        Assert.Contains(server.Log, l => l.Contains("bad certificate", StringComparison.OrdinalIgnoreCase)
                                         || l.Contains("unknown authority", StringComparison.OrdinalIgnoreCase)
                                         || l.Contains("rejected connection", StringComparison.OrdinalIgnoreCase));
    }
}
