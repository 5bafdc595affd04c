using k8s;
using k8s.Models;
using Provisioner.Tests.Pki;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Cluster;

/// <summary>
/// Runs a real etcd with exactly the command line of a control-plane machine's rendered static pod and the
/// files its Ignition writes (paths moved below a temp root, the machine's address and ports moved to loopback),
/// then talks to it with the credentials the bootstrap machine's Ignition carries.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class RenderedEtcdTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Rendered_etcd_static_pod_serves_the_bootstrap_api_server_client_and_refuses_a_cluster_ca_client()
    {
        var etcd = Requires.Program("etcd", "etcd-server");
        var etcdctl = Requires.Program("etcdctl", "etcd-client");
        using var cluster = await RenderedCluster.CreateAsync();
        using var root = new TempDir();

        void WriteFiles(string machine, string under)
        {
            foreach (var file in IgnitionFiles.Decode(cluster.Read($"ignition/{machine}.ign")).Values.Where(f => f.Path.StartsWith("/etc/kubernetes/pki/", StringComparison.Ordinal)))
            {
                var target = Path.Combine(root.Path, under, file.Path.TrimStart('/'));
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                File.WriteAllText(target, file.Text);
            }
        }
        WriteFiles("cp-0", "cp-0");
        WriteFiles("bootstrap-0", "bootstrap-0");

        var (clientPort, peerPort, metricsPort) = (FreePort.Tcp(), FreePort.Tcp(), FreePort.Tcp());
        var pod = Assert.IsType<V1Pod>(Assert.Single(KubernetesYaml.LoadAllFromString(cluster.Read("control-plane/cp-0/etcd.yaml"))));
        var args = pod.Spec.Containers[0].Command.Skip(1).Select(a => a
            .Replace("/etc/kubernetes/pki", Path.Combine(root.Path, "cp-0/etc/kubernetes/pki"), StringComparison.Ordinal)
            .Replace("/var/lib/etcd", Path.Combine(root.Path, "cp-0/var/lib/etcd"), StringComparison.Ordinal)
            .Replace("192.0.2.21", "127.0.0.1", StringComparison.Ordinal)
            .Replace(":2379", $":{clientPort}", StringComparison.Ordinal)
            .Replace(":2380", $":{peerPort}", StringComparison.Ordinal)
            .Replace(":2381", $":{metricsPort}", StringComparison.Ordinal)).ToList();
        // Loopback is listed twice now (the machine's address was moved there); etcd refuses duplicate listeners.
        args = [.. args.Select(a => a.StartsWith("--listen-client-urls=", StringComparison.Ordinal) ? $"--listen-client-urls=https://127.0.0.1:{clientPort}" : a)];

        await using var server = EtcdProcess.Start(etcd, args);
        var pki = Path.Combine(root.Path, "bootstrap-0/etc/kubernetes/pki");
        Task<ProcessResult> Ctl(string cert, params string[] command) => Programs.RunAsync(etcdctl,
        [
            "--endpoints", $"https://127.0.0.1:{clientPort}", "--cacert", Path.Combine(pki, "etcd/ca.crt"),
            "--cert", Path.Combine(pki, cert + ".crt"), "--key", Path.Combine(pki, cert + ".key"),
            "--dial-timeout", "3s", "--command-timeout", "5s", .. command,
        ], Ct);

        await server.UntilSucceedsAsync(() => Ctl("apiserver-etcd-client", "put", "/registry/probe", "hello"), "the bootstrap's api server client", Ct);
        Assert.Equal("/registry/probe\nhello\n", (await Ctl("apiserver-etcd-client", "get", "/registry/probe")).Stdout);
        var intruder = await Ctl("apiserver-kubelet-client", "put", "/registry/probe", "intruder");
        Assert.True(intruder.ExitCode != 0, $"a cluster-CA client must be refused: {intruder}");
        Assert.Equal("/registry/probe\nhello\n", (await Ctl("apiserver-etcd-client", "get", "/registry/probe")).Stdout);
    }
}
