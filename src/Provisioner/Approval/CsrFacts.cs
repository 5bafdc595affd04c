using System.Collections.Immutable;

namespace Provisioner.Approval;

/// <summary>
/// One CertificateSigningRequest as the policy sees it, copied out of the Kubernetes object so the
/// policy stays free of Kubernetes types. <paramref name="Usages"/> are spelled as in the k8s API
/// ("digital signature", "client auth", …).
/// </summary>
internal sealed record CsrFacts(
    string Name,
    string SignerName,
    ReadOnlyMemory<byte> Request,
    ImmutableArray<string> Usages,
    string Username,
    ImmutableArray<string> Groups,
    DateTimeOffset CreatedAt)
{
    private Lazy<(ParsedCsr? Request, string Error)>? _parsed;

    /// <summary>
    /// <see cref="Request"/> parsed, once however often it is asked for (the request of a CSR never changes);
    /// Error says why when Request is null.
    /// </summary>
    internal (ParsedCsr? Request, string Error) Parsed =>
        LazyInitializer.EnsureInitialized(ref _parsed, () => new(() => (ParsedCsr.TryParse(Request, out var error), error))).Value;
}

/// <summary>The signer names the policy understands; every other signer is left to someone else.</summary>
internal static class CsrSigners
{
    public const string KubeletClient = "kubernetes.io/kube-apiserver-client-kubelet";
    public const string KubeletServing = "kubernetes.io/kubelet-serving";
}
