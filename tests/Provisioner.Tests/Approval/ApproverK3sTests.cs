using System.Text;
using k8s;
using k8s.Autorest;
using k8s.Models;
using Provisioner.Approval;
using Provisioner.Tests.Support;
using Testcontainers.K3s;

namespace Provisioner.Tests.Approval;

/// <summary>
/// The full flow against a real Kubernetes API server (K3s in a container): the approver creates the
/// machine's bootstrap token Secret, the API server authenticates the joining kubelet with it, the
/// approver approves its CSR, records an Event and revokes the token.
/// </summary>
/// <remarks>
/// This is the one test that is skipped rather than failed when its prerequisite is missing, even under
/// CI=true (so it does not use <see cref="Requires"/>): it needs a Docker engine, and neither these
/// machines nor CI have one, nor can one be installed here (no container runtime package or registry
/// is reachable). It runs wherever a developer has Docker.
/// </remarks>
[Trait(Category.Name, Category.Integration)]
[Trait(Category.Name, Category.Slow)]
public sealed class ApproverK3sTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string? NoDockerReason()
    {
        var host = Environment.GetEnvironmentVariable("DOCKER_HOST");
        if (host is not null) return null;
        return File.Exists("/var/run/docker.sock") ? null : "DOCKER_HOST is unset and /var/run/docker.sock does not exist";
    }

    [Fact]
    public async Task Joining_kubelet_is_approved_by_a_real_API_server()
    {
        if (NoDockerReason() is { } reason) Assert.Skip($"no Docker engine: {reason}");

        K3sContainer k3s;
        try
        {
            k3s = new K3sBuilder("rancher/k3s:v1.31.2-k3s1").Build();
            await k3s.StartAsync(Ct);
        }
        catch (DotNet.Testcontainers.Builders.DockerUnavailableException e)
        {
            Assert.Skip($"no Docker engine: {e.Message}");
            return;
        }
        await using var _ = k3s;

        await using var h = await ApproverHarness.CreateAsync("worker-0");
        var kubeconfig = Path.Combine(h.Tree.Root, "k3s.kubeconfig");
        await File.WriteAllTextAsync(kubeconfig, await k3s.GetKubeconfigAsync(), Ct);
        var config = KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig);
        using var admin = new Kubernetes(config);
        // kubeadm's join binding: bootstrap tokens may create CSRs (K3s does not add it by itself).
        await admin.RbacAuthorizationV1.CreateClusterRoleBindingAsync(new V1ClusterRoleBinding
        {
            Metadata = new V1ObjectMeta { Name = "provisioner-test-node-bootstrapper" },
            RoleRef = new V1RoleRef { ApiGroup = "rbac.authorization.k8s.io", Kind = "ClusterRole", Name = "system:node-bootstrapper" },
            Subjects = [new Rbacv1Subject { ApiGroup = "rbac.authorization.k8s.io", Kind = "Group", Name = "system:bootstrappers" }],
        }, cancellationToken: Ct);

        await h.StartServerAsync(ApproverHarness.FastOptions() with { Kubeconfig = kubeconfig });
        await h.FetchIgnitionAsync("worker-0");
        var token = h.Tokens["worker-0"];
        await Eventually.That(async () =>
        {
            try { return await admin.CoreV1.ReadNamespacedSecretAsync(token.SecretName, "kube-system", cancellationToken: Ct) is not null; }
            catch (HttpOperationException) { return false; }
        }, "the bootstrap token Secret in K3s", TimeSpan.FromSeconds(60));

        using var kubelet = new Kubernetes(new KubernetesClientConfiguration
        {
            Host = config.Host, SslCaCerts = config.SslCaCerts, SkipTlsVerify = config.SkipTlsVerify, AccessToken = token.Value,
        });
        var csr = await kubelet.CertificatesV1.CreateCertificateSigningRequestAsync(new V1CertificateSigningRequest
        {
            Metadata = new V1ObjectMeta { GenerateName = "csr-" },
            Spec = new V1CertificateSigningRequestSpec
            {
                Request = Encoding.ASCII.GetBytes(new CsrSpec().Pem()),
                SignerName = CsrSigners.KubeletClient,
                Usages = ["digital signature", "client auth"],
            },
        }, cancellationToken: Ct);
        Assert.Equal(token.UserName, csr.Spec.Username);

        await Eventually.That(async () =>
        {
            var current = await admin.CertificatesV1.ReadCertificateSigningRequestAsync(csr.Metadata.Name, cancellationToken: Ct);
            return current.Status?.Conditions?.Any(c => c.Type == "Approved" && c.Reason == DecisionRecorder.ApprovedConditionReason) == true;
        }, "the CSR to be approved by the approver", TimeSpan.FromSeconds(60));
        var events = await admin.CoreV1.ListNamespacedEventAsync("default", fieldSelector: $"involvedObject.name={csr.Metadata.Name}", cancellationToken: Ct);
        Assert.Contains(events.Items, e => e.Reason == DecisionRecorder.EventReason(CsrReasons.ApprovedFirstJoin));
        await Eventually.That(async () =>
        {
            try { await admin.CoreV1.ReadNamespacedSecretAsync(token.SecretName, "kube-system", cancellationToken: Ct); return false; }
            catch (HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.NotFound) { return true; }
        }, "the used token's Secret to be deleted", TimeSpan.FromSeconds(30));
    }
}
