using k8s;
using k8s.Models;
using Provisioner.Cluster;

namespace Provisioner.Tests.Cluster;

/// <summary>Every rendered Kubernetes object loads into KubernetesClient's typed models, with the flags the topology needs.</summary>
public sealed class KubernetesYamlTests(ExampleClusterFixture rendered) : IClassFixture<ExampleClusterFixture>
{
    private readonly RenderedCluster _cluster = rendered.Cluster;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private List<object> Load(string relative) => KubernetesYaml.LoadAllFromString(_cluster.Read(relative));

    private V1Pod Pod(string relative) => Assert.IsType<V1Pod>(Assert.Single(Load(relative)));

    private static string Flag(V1Pod pod, string name) =>
        pod.Spec.Containers[0].Command.Single(c => c.StartsWith($"--{name}=", StringComparison.Ordinal))[(name.Length + 3)..];

    [Theory]
    [InlineData("bootstrap-manifests")]
    [InlineData("manifests")]
    [InlineData("control-plane")]
    public void Every_yaml_file_loads_into_typed_kubernetes_objects(string dir)
    {
        var files = _cluster.FilesUnder(dir).ToList();
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var objects = KubernetesYaml.LoadAllFromString(File.ReadAllText(file));
            Assert.NotEmpty(objects);
            Assert.All(objects, o =>
            {
                var typed = Assert.IsAssignableFrom<IKubernetesObject<V1ObjectMeta>>(o);
                Assert.False(string.IsNullOrEmpty(typed.Metadata.Name), $"{file}: {o.GetType().Name} without a name");
                Assert.StartsWith("V1", o.GetType().Name);
            });
        }
    }

    [Fact]
    public void Bootstrap_api_server_uses_the_control_plane_etcd_with_the_etcd_client_certificate()
    {
        var pod = Pod("bootstrap-manifests/kube-apiserver.yaml");
        Assert.Equal("bootstrap-kube-apiserver", pod.Metadata.Name);
        Assert.Equal("https://192.0.2.21:2379", Flag(pod, "etcd-servers"));
        Assert.Equal("/etc/kubernetes/pki/apiserver-etcd-client.crt", Flag(pod, "etcd-certfile"));
        Assert.Equal("/etc/kubernetes/pki/apiserver-etcd-client.key", Flag(pod, "etcd-keyfile"));
        Assert.Equal("/etc/kubernetes/pki/etcd/ca.crt", Flag(pod, "etcd-cafile"));
        Assert.Equal("10.96.0.0/12", Flag(pod, "service-cluster-ip-range"));
        Assert.Equal("/etc/kubernetes/pki/ca.crt", Flag(pod, "client-ca-file"));
        Assert.Equal("true", Flag(pod, "enable-bootstrap-token-auth"));
        Assert.Equal("192.0.2.20", Flag(pod, "advertise-address"));
        Assert.Equal("registry.k8s.io/kube-apiserver:v1.31.2", pod.Spec.Containers[0].Image);
        Assert.DoesNotContain(_cluster.FilesUnder("bootstrap-manifests"), f => f.EndsWith("etcd.yaml", StringComparison.Ordinal));
    }

    [Fact]
    public void Controller_manager_signs_with_the_cluster_ca_and_allocates_pod_cidrs()
    {
        var pod = Pod("bootstrap-manifests/kube-controller-manager.yaml");
        Assert.Equal("/etc/kubernetes/pki/ca.crt", Flag(pod, "cluster-signing-cert-file"));
        Assert.Equal("/etc/kubernetes/pki/ca.key", Flag(pod, "cluster-signing-key-file"));
        Assert.Equal("10.244.0.0/16", Flag(pod, "cluster-cidr"));
        Assert.Equal("/etc/kubernetes/controller-manager.kubeconfig", Flag(pod, "kubeconfig"));
        Assert.Equal("/etc/kubernetes/pki/sa.key", Flag(pod, "service-account-private-key-file"));
    }

    /// <summary>
    /// Provisioner is the only approver of kubelet CSRs: the controller-manager's csrapproving controller would approve
    /// what Provisioner leaves pending (issue 11), so every controller-manager runs with it off.
    /// </summary>
    [Theory]
    [InlineData("bootstrap-manifests/kube-controller-manager.yaml")]
    [InlineData("control-plane/cp-0/kube-controller-manager.yaml")]
    public void Controller_manager_runs_without_the_csr_approving_controller(string file)
    {
        Assert.Equal("*,bootstrapsigner,tokencleaner,-csrapproving", Flag(Pod(file), "controllers"));
    }

    [Fact]
    public void Control_plane_etcd_uses_its_own_certificates_and_names_every_member()
    {
        var pod = Pod("control-plane/cp-0/etcd.yaml");
        Assert.Equal("cp-0", Flag(pod, "name"));
        Assert.Equal("cp-0=https://192.0.2.21:2380", Flag(pod, "initial-cluster"));
        Assert.Equal("https://127.0.0.1:2379,https://192.0.2.21:2379", Flag(pod, "listen-client-urls"));
        Assert.Equal("/etc/kubernetes/pki/etcd/server.crt", Flag(pod, "cert-file"));
        Assert.Equal("/etc/kubernetes/pki/etcd/peer.key", Flag(pod, "peer-key-file"));
        Assert.Equal("true", Flag(pod, "client-cert-auth"));
        Assert.Equal("registry.k8s.io/etcd:3.5.15-0", pod.Spec.Containers[0].Image);
        Assert.Equal("https://127.0.0.1:2379", Flag(Pod("control-plane/cp-0/kube-apiserver.yaml"), "etcd-servers"));
    }

    [Fact]
    public async Task Three_control_plane_machines_form_one_etcd_cluster()
    {
        using var three = await RenderedCluster.CreateAsync(tree => tree.Write("more.yaml", RenderedCluster.TwoMoreControlPlaneMachines));
        var expected = "cp-0=https://192.0.2.21:2380,cp-1=https://192.0.2.22:2380,cp-2=https://192.0.2.23:2380";
        foreach (var m in new[] { "cp-0", "cp-1", "cp-2" })
        {
            var pod = Assert.IsType<V1Pod>(Assert.Single(KubernetesYaml.LoadAllFromString(three.Read($"control-plane/{m}/etcd.yaml"))));
            Assert.Equal(expected, Flag(pod, "initial-cluster"));
        }
        var boot = Assert.IsType<V1Pod>(Assert.Single(KubernetesYaml.LoadAllFromString(three.Read("bootstrap-manifests/kube-apiserver.yaml"))));
        Assert.Equal("https://192.0.2.21:2379,https://192.0.2.22:2379,https://192.0.2.23:2379", Flag(boot, "etcd-servers"));
    }

    [Fact]
    public async Task Image_overrides_from_the_cluster_section_replace_the_defaults()
    {
        using var mirrored = await RenderedCluster.CreateAsync(tree => tree.Edit("cluster.yaml", "  clusterDomain: cluster.local",
            "  clusterDomain: cluster.local\n  images:\n    kube-apiserver: mirror.example:5000/k8s/kube-apiserver:v1.31.2\n    coredns: mirror.example/coredns:v1.11.3"));
        var api = Assert.IsType<V1Pod>(Assert.Single(KubernetesYaml.LoadAllFromString(mirrored.Read("bootstrap-manifests/kube-apiserver.yaml"))));
        Assert.Equal("mirror.example:5000/k8s/kube-apiserver:v1.31.2", api.Spec.Containers[0].Image);
        var coredns = KubernetesYaml.LoadAllFromString(mirrored.Read("manifests/0020-coredns.yaml")).OfType<V1Deployment>().Single();
        Assert.Equal("mirror.example/coredns:v1.11.3", coredns.Spec.Template.Spec.Containers[0].Image);
        var scheduler = Assert.IsType<V1Pod>(Assert.Single(KubernetesYaml.LoadAllFromString(mirrored.Read("bootstrap-manifests/kube-scheduler.yaml"))));
        Assert.Equal("registry.k8s.io/kube-scheduler:v1.31.2", scheduler.Spec.Containers[0].Image);
    }

    [Fact]
    public void Every_existing_token_has_a_labelled_bootstrap_token_secret()
    {
        var secrets = Load("manifests/0001-bootstrap-tokens.yaml").Cast<V1Secret>().ToList();
        Assert.Equal(_cluster.Tokens.All.Select(t => t.SecretName).Order(), secrets.Select(s => s.Metadata.Name).Order());
        Assert.Equal(["cp-0", "worker-0"], secrets.Select(s => s.Metadata.Labels["provisioner.dev/machine"]).Order());
        foreach (var secret in secrets)
        {
            var token = _cluster.Tokens.FindById(secret.StringData["token-id"])!;
            Assert.Equal("kube-system", secret.Metadata.NamespaceProperty);
            Assert.Equal("bootstrap.kubernetes.io/token", secret.Type);
            Assert.Equal(token.Secret, secret.StringData["token-secret"]);
            Assert.Equal("system:bootstrappers:provisioner", secret.StringData["auth-extra-groups"]);
            Assert.Equal(token.Expires.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'"), secret.StringData["expiration"]);
        }
    }

    [Fact]
    public void Bootstrappers_may_create_csrs_and_nothing_approves_them_automatically()
    {
        var all = _cluster.FilesUnder("manifests").SelectMany(f => KubernetesYaml.LoadAllFromString(File.ReadAllText(f))).ToList();
        var binding = Load("manifests/0002-bootstrapper-rbac.yaml").Cast<V1ClusterRoleBinding>().Single();
        Assert.Equal("system:node-bootstrapper", binding.RoleRef.Name);
        Assert.Equal(("Group", "system:bootstrappers:provisioner"), (binding.Subjects.Single().Kind, binding.Subjects.Single().Name));
        string[] autoApprove =
        [
            "system:certificates.k8s.io:certificatesigningrequests:nodeclient",
            "system:certificates.k8s.io:certificatesigningrequests:selfnodeclient",
        ];
        Assert.DoesNotContain(all.OfType<V1ClusterRoleBinding>(), b => autoApprove.Contains(b.RoleRef.Name));
        Assert.DoesNotContain(all.OfType<V1ClusterRole>(), r => r.Rules.Any(rule => rule.Verbs.Contains("approve") && r.Metadata.Name != ClusterManifests.ApproverRole));
    }

    [Fact]
    public void Cluster_info_is_readable_anonymously_and_names_the_endpoint_and_ca()
    {
        var objects = Load("manifests/0003-cluster-info.yaml");
        var map = objects.OfType<V1ConfigMap>().Single();
        Assert.Equal(("kube-public", "cluster-info"), (map.Metadata.NamespaceProperty, map.Metadata.Name));
        var kubeconfig = KubernetesYaml.Deserialize<k8s.KubeConfigModels.K8SConfiguration>(map.Data["kubeconfig"]);
        var cluster = kubeconfig.Clusters.Single().ClusterEndpoint;
        Assert.Equal("https://api.demo.example.test:6443", cluster.Server);
        Assert.Equal(_cluster.Read("tls/ca.crt"), System.Text.Encoding.ASCII.GetString(Convert.FromBase64String(cluster.CertificateAuthorityData)));
        var role = objects.OfType<V1Role>().Single();
        Assert.Equal(["cluster-info"], role.Rules.Single().ResourceNames);
        Assert.Equal(["get"], role.Rules.Single().Verbs);
        Assert.Equal("system:anonymous", objects.OfType<V1RoleBinding>().Single().Subjects.Single().Name);
    }

    [Fact]
    public void Approver_role_grants_exactly_csr_approval_for_kubelet_signers_nodes_events_tokens_and_its_lease()
    {
        var objects = Load("manifests/0004-provisioner-approver-rbac.yaml");
        var rules = objects.OfType<V1ClusterRole>().Single().Rules
            .Select(r => $"{string.Join('|', r.ApiGroups)} {string.Join('|', r.Resources)} {string.Join('|', r.ResourceNames ?? [])} {string.Join('|', r.Verbs)}");
        Assert.Equal(
        [
            "certificates.k8s.io certificatesigningrequests  get|list|watch",
            "certificates.k8s.io certificatesigningrequests/approval  update",
            "certificates.k8s.io signers kubernetes.io/kube-apiserver-client-kubelet|kubernetes.io/kubelet-serving approve",
            " nodes  get|list|watch",
            "|events.k8s.io events  create|patch",
        ], rules);
        var role = objects.OfType<V1Role>().Single();
        Assert.Equal("kube-system", role.Metadata.NamespaceProperty);
        Assert.Equal(["secrets get|list|watch|create|delete", "leases get|create|update"],
            role.Rules.Select(r => $"{string.Join('|', r.Resources)} {string.Join('|', r.Verbs)}"));
        Assert.All(objects.OfType<V1ClusterRoleBinding>().SelectMany(b => b.Subjects).Concat(objects.OfType<V1RoleBinding>().SelectMany(b => b.Subjects)),
            s => Assert.Equal(("User", "provisioner:approver"), (s.Kind, s.Name)));
    }

    [Fact]
    public void Coredns_service_sits_at_the_cluster_dns_address_and_kube_proxy_uses_the_pod_cidr()
    {
        var service = Load("manifests/0020-coredns.yaml").OfType<V1Service>().Single();
        Assert.Equal("10.96.0.10", service.Spec.ClusterIP);
        Assert.Contains("kubernetes cluster.local in-addr.arpa", Load("manifests/0020-coredns.yaml").OfType<V1ConfigMap>().Single().Data["Corefile"]);
        var proxy = Load("manifests/0010-kube-proxy.yaml");
        Assert.Contains("clusterCIDR: 10.244.0.0/16", proxy.OfType<V1ConfigMap>().Single().Data["config.conf"]);
        Assert.Equal("registry.k8s.io/kube-proxy:v1.31.2", proxy.OfType<V1DaemonSet>().Single().Spec.Template.Spec.Containers[0].Image);
        Assert.Single(proxy.OfType<V1ServiceAccount>());
    }
}
