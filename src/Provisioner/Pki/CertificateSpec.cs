using System.Collections.Immutable;
using System.Net;

namespace Provisioner.Pki;

[Flags]
internal enum ExtendedUsages
{
    None = 0,
    ServerAuth = 1,
    ClientAuth = 2,
}

/// <summary>Subject of a certificate: one CN and any number of O (Kubernetes reads O as group names).</summary>
internal sealed record CertificateSubject(string CommonName, ImmutableArray<string> Organizations)
{
    public override string ToString() =>
        string.Join(", ", Organizations.Select(o => "O=" + o).Append("CN=" + CommonName));
}

/// <summary>
/// One certificate to issue. <see cref="Name"/> is also its path below <c>tls/</c> without extension
/// (e.g. <c>etcd/ca</c> → <c>etcd/ca.crt</c> + <c>etcd/ca.key</c>). <see cref="IssuerName"/> is null for a
/// self-signed CA.
/// </summary>
internal sealed record CertificateSpec(
    string Name,
    string? IssuerName,
    CertificateSubject Subject,
    ExtendedUsages Usages,
    ImmutableArray<string> DnsNames,
    ImmutableArray<IPAddress> IpAddresses)
{
    public bool IsAuthority => IssuerName is null;

    public string CertificateFile => Name + ".crt";

    public string KeyFile => Name + ".key";

    public static CertificateSpec Authority(string name, string commonName) =>
        new(name, null, new CertificateSubject(commonName, []), ExtendedUsages.None, [], []);
}
