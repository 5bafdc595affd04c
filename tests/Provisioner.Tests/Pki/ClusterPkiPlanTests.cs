using System.Net;
using Provisioner.Pki;

namespace Provisioner.Tests.Pki;

public sealed class ClusterPkiPlanTests
{
    private static readonly ClusterPkiPlan Plan = ClusterPkiPlan.For(TestProfiles.Standard(), new PkiOptions());

    [Fact]
    public void Lists_every_certificate_kubeadm_makes_with_its_issuer()
    {
        var byName = Plan.Certificates.ToDictionary(c => c.Name, c => c.IssuerName);
        Assert.Equal(new Dictionary<string, string?>
        {
            ["ca"] = null, ["etcd/ca"] = null, ["front-proxy-ca"] = null,
            ["apiserver"] = "ca", ["apiserver-kubelet-client"] = "ca", ["admin"] = "ca",
            ["controller-manager"] = "ca", ["scheduler"] = "ca",
            ["front-proxy-client"] = "front-proxy-ca", ["provisioner-approver"] = "ca",
            ["etcd/cp1/server"] = "etcd/ca", ["etcd/cp1/peer"] = "etcd/ca",
            ["etcd/cp2/server"] = "etcd/ca", ["etcd/cp2/peer"] = "etcd/ca",
            ["etcd/healthcheck-client"] = "etcd/ca", ["apiserver-etcd-client"] = "etcd/ca",
        }, byName);
    }

    [Fact]
    public void Approver_client_is_user_provisioner_approver_without_groups()
    {
        var approver = Plan["provisioner-approver"];
        Assert.Equal(new CertificateSubject("provisioner:approver", []).ToString(), approver.Subject.ToString());
        Assert.Equal(ExtendedUsages.ClientAuth, approver.Usages);
    }

    [Fact]
    public void Without_control_plane_machines_the_bootstrap_machine_gets_the_etcd_certificates()
    {
        var single = ClusterPkiPlan.For(new Provisioner.Profiles.ProfileSet(TestProfiles.Cluster(), System.Collections.Immutable.ImmutableDictionary<string, Provisioner.Profiles.RoleSpec>.Empty,
            [TestProfiles.Machine("boot", "bootstrap", "192.168.50.9"), TestProfiles.Machine("worker1", "worker", null)], "/profiles"), new PkiOptions());
        Assert.Equal(["etcd/boot/server", "etcd/boot/peer"], single.Certificates.Where(c => c.Name.StartsWith("etcd/boot", StringComparison.Ordinal)).Select(c => c.Name));
        Assert.Contains(IPAddress.Parse("192.168.50.9"), single["etcd/boot/server"].IpAddresses);
    }

    [Fact]
    public void Api_server_names_endpoint_vip_service_ip_and_control_plane_and_bootstrap_machines()
    {
        var api = Plan["apiserver"];
        Assert.Equal(
            ["api.demo.example.com", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
             "kubernetes.default.svc.cluster.local", "localhost",
             "cp1", "cp1.demo.example.com", "cp2", "cp2.demo.example.com", "boot", "boot.demo.example.com"],
            api.DnsNames);
        Assert.Equal(
            ["192.168.50.5", "10.96.0.1", "127.0.0.1", "192.168.50.11", "fd00:50::12", "192.168.50.9"],
            api.IpAddresses.Select(ip => ip.ToString()));
        Assert.Equal(ExtendedUsages.ServerAuth, api.Usages);
        Assert.DoesNotContain("worker1", api.DnsNames);
    }

    [Fact]
    public void Etcd_member_certificates_name_the_machine_and_loopback_and_serve_both_directions()
    {
        var server = Plan["etcd/cp2/server"];
        Assert.Equal(["cp2", "cp2.demo.example.com", "localhost"], server.DnsNames);
        Assert.Equal([IPAddress.Parse("fd00:50::12"), IPAddress.Loopback, IPAddress.IPv6Loopback], server.IpAddresses);
        Assert.Equal(ExtendedUsages.ServerAuth | ExtendedUsages.ClientAuth, server.Usages);
        Assert.Equal("cp2", server.Subject.CommonName);
        Assert.DoesNotContain(Plan.Certificates, c => c.Name.StartsWith("etcd/boot/", StringComparison.Ordinal));
    }

    [Fact]
    public void Client_certificates_carry_kubernetes_identities()
    {
        Assert.Equal(new CertificateSubject("kubernetes-admin", ["system:masters"]).ToString(), Plan["admin"].Subject.ToString());
        Assert.Equal(["system:masters"], Plan["apiserver-kubelet-client"].Subject.Organizations);
        Assert.Equal("system:kube-controller-manager", Plan["controller-manager"].Subject.CommonName);
        Assert.Equal("system:kube-scheduler", Plan["scheduler"].Subject.CommonName);
        Assert.All(Plan.Leaves.Where(l => !l.Name.StartsWith("etcd/cp", StringComparison.Ordinal) && l.Name != "apiserver"),
            l => Assert.Equal(ExtendedUsages.ClientAuth, l.Usages));
    }

    [Fact]
    public void Dhcp_machine_gets_names_only_and_ipv6_service_cidr_gives_first_host()
    {
        var profiles = TestProfiles.Standard(TestProfiles.Cluster(serviceCidr: "fd00:96::/108"),
            TestProfiles.Machine("cp3", "control-plane", null));
        var plan = ClusterPkiPlan.For(profiles, new PkiOptions());
        Assert.Contains(IPAddress.Parse("fd00:96::1"), plan["apiserver"].IpAddresses);
        Assert.Equal([IPAddress.Loopback, IPAddress.IPv6Loopback], plan["etcd/cp3/server"].IpAddresses);
    }

    [Fact]
    public void Extra_sans_are_added_and_split_into_dns_and_ip()
    {
        var plan = ClusterPkiPlan.For(TestProfiles.Standard(), new PkiOptions { ExtraApiServerSans = ["k8s.example.org", "2001:db8::7"] });
        Assert.Contains("k8s.example.org", plan["apiserver"].DnsNames);
        Assert.Contains(IPAddress.Parse("2001:db8::7"), plan["apiserver"].IpAddresses);
    }

    [Fact]
    public void Machine_name_that_would_escape_the_tls_dir_is_rejected()
    {
        var profiles = TestProfiles.Standard(null, TestProfiles.Machine("../evil", "control-plane", null));
        var e = Assert.Throws<PkiException>(() => ClusterPkiPlan.For(profiles, new PkiOptions()));
        Assert.Contains("machines.yaml:1:1", e.Message);
    }
}
