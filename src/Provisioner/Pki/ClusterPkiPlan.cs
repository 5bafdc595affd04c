using System.Collections.Immutable;
using System.Net;
using System.Text.RegularExpressions;
using Provisioner.Profiles;

namespace Provisioner.Pki;

internal sealed record PkiOptions
{
    public KeyAlgorithm KeyAlgorithm { get; init; } = KeyAlgorithm.EcdsaP256;

    public TimeSpan AuthorityValidity { get; init; } = TimeSpan.FromDays(3650);

    public TimeSpan LeafValidity { get; init; } = TimeSpan.FromDays(365);

    /// <summary>A leaf expiring sooner than this is re-issued on render.</summary>
    public TimeSpan RenewBefore { get; init; } = TimeSpan.FromDays(30);

    /// <summary>Machines with this role run a temporary control plane, so the API server cert must name them too.</summary>
    public string BootstrapRole { get; init; } = "bootstrap";

    public string ControlPlaneRole { get; init; } = "control-plane";

    /// <summary>Extra API server SANs (like kubeadm's <c>certSANs</c>): DNS names or IP literals.</summary>
    public ImmutableArray<string> ExtraApiServerSans { get; init; } = [];

    public TimeProvider Clock { get; init; } = TimeProvider.System;
}

/// <summary>
/// Every certificate kubeadm's <c>init phase certs</c> would make for this cluster, plus the client certs
/// kubeadm embeds in kubeconfigs. Files below <c>tls/</c> (each <c>X</c> is <c>X.crt</c> + <c>X.key</c>):
/// <code>
/// ca                          kubernetes CA (CN=kubernetes)
/// apiserver                   serverAuth; endpoint, VIP, kubernetes.default…, service IP, control-plane hosts
/// apiserver-kubelet-client    clientAuth; O=system:masters (see below)
/// admin                       clientAuth; CN=kubernetes-admin, O=system:masters
/// controller-manager          clientAuth; CN=system:kube-controller-manager
/// scheduler                   clientAuth; CN=system:kube-scheduler
/// front-proxy-ca              front-proxy CA (CN=front-proxy-ca)
/// front-proxy-client          clientAuth; signed by front-proxy-ca
/// etcd/ca                     etcd CA (CN=etcd-ca)
/// etcd/&lt;machine&gt;/server       server+clientAuth; hostname, FQDN, IP, localhost, 127.0.0.1, ::1
/// etcd/&lt;machine&gt;/peer         server+clientAuth; same SANs
/// etcd/healthcheck-client     clientAuth; CN=kube-etcd-healthcheck-client
/// apiserver-etcd-client       clientAuth; signed by etcd/ca
/// sa.key + sa.pub             service-account token signing pair (no certificate)
/// provisioner-approver        clientAuth; CN=provisioner:approver (Provisioner's CSR approver)
/// </code>
/// apiserver-kubelet-client: kubeadm ≥ 1.29 uses O=kubeadm:cluster-admins, which only works once kubeadm's
/// ClusterRoleBinding for that group exists. We render without kubeadm, so we keep the pre-1.29
/// O=system:masters, which is authorized by the API server itself with no RBAC objects.
/// etcd certs are per control-plane machine (kubeadm writes one <c>etcd/server.crt</c> per node; we render for all);
/// with no control-plane machine they are for the bootstrap machine, which then runs etcd itself.
/// </summary>
internal sealed partial record ClusterPkiPlan(PkiOptions Options, ImmutableArray<CertificateSpec> Certificates)
{
    public const string KubernetesCa = "ca";
    public const string EtcdCa = "etcd/ca";
    public const string FrontProxyCa = "front-proxy-ca";
    public const string ServiceAccountKeyFile = "sa.key";
    public const string ServiceAccountPublicKeyFile = "sa.pub";
    public const string ApproverClient = "provisioner-approver";
    public const string ApproverUser = "provisioner:approver";

    public IEnumerable<CertificateSpec> Authorities => Certificates.Where(c => c.IsAuthority);

    public IEnumerable<CertificateSpec> Leaves => Certificates.Where(c => !c.IsAuthority);

    public CertificateSpec this[string name] =>
        Certificates.FirstOrDefault(c => c.Name == name) ?? throw new KeyNotFoundException($"No certificate '{name}' in the plan.");

    public static ClusterPkiPlan For(ProfileSet profiles, PkiOptions options)
    {
        var cluster = profiles.Cluster;
        var controlPlane = profiles.Machines.Where(m => m.Role == options.ControlPlaneRole).ToList();
        var bootstrap = profiles.Machines.Where(m => m.Role == options.BootstrapRole).ToList();
        // A cluster without control-plane machines runs etcd on its bootstrap machine (single-machine topology).
        var etcdMembers = controlPlane.Count > 0 ? controlPlane : bootstrap;
        foreach (var m in etcdMembers)
            if (!SafeMachineName().IsMatch(m.Name))
                throw new PkiException($"{m.Location}: machine name '{m.Name}' cannot be used as a certificate path (use a DNS label).");

        var apiSans = new SanBuilder();
        apiSans.Add(cluster.ApiEndpoint);
        if (cluster.ApiVip is { } vip) apiSans.Add(vip);
        apiSans.Add("kubernetes", "kubernetes.default", "kubernetes.default.svc", $"kubernetes.default.svc.{cluster.ClusterDomain}");
        apiSans.Add(FirstHost(cluster.ServiceCidr));
        apiSans.Add("localhost");
        apiSans.Add(IPAddress.Loopback);
        foreach (var m in controlPlane.Concat(bootstrap))
            apiSans.AddMachine(m, cluster);
        foreach (var extra in options.ExtraApiServerSans)
            apiSans.Add(extra);

        var certs = new List<CertificateSpec>
        {
            CertificateSpec.Authority(KubernetesCa, "kubernetes"),
            CertificateSpec.Authority(EtcdCa, "etcd-ca"),
            CertificateSpec.Authority(FrontProxyCa, "front-proxy-ca"),
            apiSans.Build("apiserver", KubernetesCa, new("kube-apiserver", []), ExtendedUsages.ServerAuth),
            Client("apiserver-kubelet-client", KubernetesCa, "kube-apiserver-kubelet-client", "system:masters"),
            Client("admin", KubernetesCa, "kubernetes-admin", "system:masters"),
            Client("controller-manager", KubernetesCa, "system:kube-controller-manager"),
            Client("scheduler", KubernetesCa, "system:kube-scheduler"),
            Client("front-proxy-client", FrontProxyCa, "front-proxy-client"),
            // Provisioner's own identity for approving CSRs; its RBAC is rendered into manifests/ (no O: no group).
            Client(ApproverClient, KubernetesCa, ApproverUser),
        };
        foreach (var m in etcdMembers)
        {
            var sans = new SanBuilder();
            sans.AddMachine(m, cluster);
            sans.Add("localhost");
            sans.Add(IPAddress.Loopback, IPAddress.IPv6Loopback);
            const ExtendedUsages both = ExtendedUsages.ServerAuth | ExtendedUsages.ClientAuth;
            certs.Add(sans.Build($"etcd/{m.Name}/server", EtcdCa, new(m.Name, []), both));
            certs.Add(sans.Build($"etcd/{m.Name}/peer", EtcdCa, new(m.Name, []), both));
        }
        certs.Add(Client("etcd/healthcheck-client", EtcdCa, "kube-etcd-healthcheck-client"));
        certs.Add(Client("apiserver-etcd-client", EtcdCa, "kube-apiserver-etcd-client"));
        return new ClusterPkiPlan(options, [.. certs]);
    }

    private static CertificateSpec Client(string name, string issuer, string cn, params string[] orgs) =>
        new(name, issuer, new CertificateSubject(cn, [.. orgs]), ExtendedUsages.ClientAuth, [], []);

    /// <summary>The API server's in-cluster address: the first host of the service CIDR (e.g. 10.96.0.1).</summary>
    internal static IPAddress FirstHost(IPNetwork network)
    {
        var bytes = network.BaseAddress.GetAddressBytes();
        for (var i = bytes.Length - 1; i >= 0 && ++bytes[i] == 0; i--) { }
        return new IPAddress(bytes);
    }

    [GeneratedRegex("^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
    private static partial Regex SafeMachineName();

    /// <summary>Collects SANs in order, without duplicates (DNS names compare case-insensitively).</summary>
    private sealed class SanBuilder
    {
        private readonly List<string> _dns = [];
        private readonly List<IPAddress> _ips = [];

        public void Add(params string[] names)
        {
            foreach (var name in names)
            {
                if (IPAddress.TryParse(name, out var ip)) Add(ip);
                else if (!_dns.Contains(name, StringComparer.OrdinalIgnoreCase)) _dns.Add(name.ToLowerInvariant());
            }
        }

        public void Add(params IPAddress[] ips)
        {
            foreach (var ip in ips.Select(CertificateIssuer.Canonical))
                if (!_ips.Contains(ip)) _ips.Add(ip);
        }

        /// <summary>Short name, FQDN and static IP (DHCP machines have no IP known in advance).</summary>
        public void AddMachine(MachineSpec m, ClusterSpec cluster)
        {
            Add(m.Name, m.Fqdn(cluster));
            if (m.Network.Address is { } ip) Add(ip);
        }

        public CertificateSpec Build(string name, string issuer, CertificateSubject subject, ExtendedUsages usages) =>
            new(name, issuer, subject, usages, [.. _dns], [.. _ips]);
    }
}
