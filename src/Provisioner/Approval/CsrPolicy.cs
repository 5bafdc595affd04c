using System.Collections.Immutable;
using Org.BouncyCastle.Asn1;
using Org.BouncyCastle.Asn1.Nist;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto.Parameters;

namespace Provisioner.Approval;

/// <summary>
/// Decides one CertificateSigningRequest: approve exactly the kubelet client and serving CSRs of
/// machines this provisioner provisioned, leave everything else pending for someone else (or a
/// later pass), and deny only clear forgeries when asked to. Pure: all facts come in as arguments.
/// </summary>
/// <remarks>
/// Checks run cheapest-to-prove-forgery first (signature, CA use) so a forged CSR is always reported
/// as a forgery, then shape (key, subject, SANs, usages), then identity (requester, machine, token),
/// then timing, and the pending caps last: caps only hold back CSRs that would otherwise be approved.
/// </remarks>
internal sealed class CsrPolicy
{
    private const string NodeUserPrefix = "system:node:";
    private const string NodesGroup = "system:nodes";
    private const string BootstrapUserPrefix = "system:bootstrap:";
    private const string BootstrappersGroup = "system:bootstrappers";

    private const string DigitalSignature = "digital signature";
    private const string KeyEncipherment = "key encipherment";
    private const string ClientAuth = "client auth";
    private const string ServerAuth = "server auth";

    private static readonly DerObjectIdentifier CommonName = X509Name.CN;
    private static readonly DerObjectIdentifier Organization = X509Name.O;

    private readonly CsrPolicyOptions options;
    private readonly ImmutableHashSet<DerObjectIdentifier> allowedCurves;

    public CsrPolicy(CsrPolicyOptions options)
    {
        this.options = options;
        allowedCurves = [.. options.Keys.EcdsaCurves.Select(name =>
            NistNamedCurves.GetOid(name) ?? throw new ArgumentException($"Unknown ECDSA curve '{name}'; use a NIST name such as P-256.", nameof(options)))];
        if (options.MaxPendingPerMachine < 1)
            throw new ArgumentException("MaxPendingPerMachine must be at least 1.", nameof(options));
    }

    public CsrDecision Decide(CsrFacts csr, ICsrInventory inventory)
    {
        var serving = csr.SignerName switch
        {
            CsrSigners.KubeletClient => false,
            CsrSigners.KubeletServing => true,
            _ => (bool?)null,
        };
        if (serving is null)
            return Pending(CsrReasons.UnknownSigner, $"CSR {csr.Name}: signer '{csr.SignerName}' is not a kubelet signer this provisioner approves for.");

        var (request, parseError) = csr.Parsed;
        if (request is null)
            return Pending(CsrReasons.Unparseable, $"CSR {csr.Name}: request is not a PEM PKCS#10 certificate request ({parseError}).");
        if (!request.SignatureValid)
            return Forged(CsrReasons.BadSignature, $"CSR {csr.Name}: the request's signature does not verify with its own public key.");
        if (request.CaUse is { } caUse)
            return Forged(CsrReasons.CaExtension, $"CSR {csr.Name}: the request asks for CA use ({caUse}).");
        if (KeyProblem(request) is { } keyProblem)
            return Pending(CsrReasons.WeakKey, $"CSR {csr.Name}: {keyProblem}.");

        return serving.Value ? DecideServing(csr, request, inventory) : DecideClient(csr, request, inventory);
    }

    private CsrDecision DecideClient(CsrFacts csr, ParsedCsr request, ICsrInventory inventory)
    {
        if (NodeNameFromSubject(request) is not { } nodeName)
            return Pending(CsrReasons.SubjectMismatch, $"CSR {csr.Name}: subject must be exactly CN=system:node:<name>, O=system:nodes.");
        if (request.SubjectAltNames.Length > 0)
            return Pending(CsrReasons.UnexpectedSan, $"CSR {csr.Name}: a kubelet client certificate carries no subject alternative names.", nodeName);
        if (UsagesProblem(csr.Usages, ClientAuth) is { } usages)
            return Pending(CsrReasons.BadUsages, $"CSR {csr.Name}: {usages}.", nodeName);

        if (BootstrapTokenId(csr) is { } tokenId)
            return DecideFirstJoin(csr, nodeName, tokenId, inventory);
        if (IsNode(csr, nodeName))
            return DecideRenewal(csr, nodeName, inventory);
        return Pending(CsrReasons.RequesterMismatch,
            $"CSR {csr.Name}: requester '{csr.Username}' is neither a bootstrap token nor node {nodeName} itself.", nodeName);
    }

    private CsrDecision DecideFirstJoin(CsrFacts csr, string nodeName, string tokenId, ICsrInventory inventory)
    {
        if (inventory.MachineForBootstrapToken(tokenId) is not { } tokenMachine)
        {
            // A machine's tokens are revoked once its Node registers; a CSR sent with one just before says why best this way.
            if (inventory.FindNode(nodeName) is not null)
                return Pending(CsrReasons.NodeExists,
                    $"CSR {csr.Name}: node {nodeName} already exists and bootstrap token '{tokenId}' is not (or no longer) one this provisioner issued; only the node itself may renew its certificate.", nodeName);
            return Pending(CsrReasons.RequesterMismatch, $"CSR {csr.Name}: bootstrap token '{tokenId}' was not issued by this provisioner (or was revoked).", nodeName);
        }

        var machine = inventory.FindMachineByNodeName(nodeName);
        if (machine is null || !string.Equals(machine.Name, tokenMachine, StringComparison.Ordinal))
            return Forged(CsrReasons.TokenBoundToOtherMachine,
                $"CSR {csr.Name}: bootstrap token '{tokenId}' was issued to machine {tokenMachine} but asks for node {nodeName}.", nodeName, tokenMachine);

        if (inventory.FindNode(nodeName) is not null)
            return Pending(CsrReasons.NodeExists,
                $"CSR {csr.Name}: node {nodeName} already exists; only the node itself may renew its certificate.", nodeName, machine.Name);
        if (inventory.NewerFirstJoinCsr(machine.Name, csr.Name) is { } newer)
            return Pending(CsrReasons.Superseded,
                $"CSR {csr.Name}: machine {machine.Name} asked again with CSR {newer}; only its newest first-join request is approved (the kubelet that sent this one has restarted).",
                nodeName, machine.Name);
        if (IgnitionWindowProblem(machine, csr.CreatedAt) is { } window)
            return Pending(CsrReasons.IgnitionWindowExpired, $"CSR {csr.Name}: {window}.", nodeName, machine.Name);

        return CappedOrApproved(csr, nodeName, machine, inventory, CsrReasons.ApprovedFirstJoin,
            $"CSR {csr.Name}: first join of machine {machine.Name} as node {nodeName} with its own bootstrap token.");
    }

    private CsrDecision DecideRenewal(CsrFacts csr, string nodeName, ICsrInventory inventory)
    {
        if (inventory.FindMachineByNodeName(nodeName) is not { } machine)
            return Pending(CsrReasons.UnknownMachine, $"CSR {csr.Name}: node {nodeName} is not a machine this provisioner provisioned.", nodeName);
        return CappedOrApproved(csr, nodeName, machine, inventory, CsrReasons.ApprovedRenewal,
            $"CSR {csr.Name}: node {nodeName} renews its own client certificate.");
    }

    private CsrDecision DecideServing(CsrFacts csr, ParsedCsr request, ICsrInventory inventory)
    {
        if (!csr.Username.StartsWith(NodeUserPrefix, StringComparison.Ordinal) || !InGroup(csr, NodesGroup))
            return Pending(CsrReasons.RequesterMismatch, $"CSR {csr.Name}: serving certificates are requested by a node (system:node:<name> in system:nodes), not '{csr.Username}'.");
        var nodeName = csr.Username[NodeUserPrefix.Length..];
        if (NodeNameFromSubject(request) != nodeName)
            return Pending(CsrReasons.SubjectMismatch, $"CSR {csr.Name}: subject must be exactly CN={csr.Username}, O=system:nodes.", nodeName);
        if (UsagesProblem(csr.Usages, ServerAuth) is { } usages)
            return Pending(CsrReasons.BadUsages, $"CSR {csr.Name}: {usages}.", nodeName);
        if (inventory.FindMachineByNodeName(nodeName) is not { } machine)
            return Pending(CsrReasons.UnknownMachine, $"CSR {csr.Name}: node {nodeName} is not a machine this provisioner provisioned.", nodeName);

        if (ServingSanProblem(request, machine, inventory.FindNode(nodeName)) is (var reason, var problem))
            return Pending(reason, $"CSR {csr.Name}: {problem}.", nodeName, machine.Name);

        return CappedOrApproved(csr, nodeName, machine, inventory, CsrReasons.ApprovedServing,
            $"CSR {csr.Name}: serving certificate for node {nodeName} with names and addresses of machine {machine.Name}.");
    }

    private static (string Reason, string Problem)? ServingSanProblem(ParsedCsr request, MachineFacts machine, NodeFacts? node)
    {
        if (request.SubjectAltNames.FirstOrDefault(s => s.Kind is not (SanKind.Dns or SanKind.Ip)) is { } odd)
            return (CsrReasons.UnexpectedSan, $"subject alternative name {odd.Kind} '{odd.Value}' is not allowed; only DNS and IP names");
        if (request.SubjectAltNames.IsEmpty)
            return (CsrReasons.NoSan, "a serving certificate needs at least one DNS or IP subject alternative name");

        foreach (var san in request.SubjectAltNames)
        {
            if (san.Kind == SanKind.Dns &&
                !string.Equals(san.Value, machine.Name, StringComparison.OrdinalIgnoreCase) &&
                !machine.DnsNames.Contains(san.Value, StringComparer.OrdinalIgnoreCase))
                return (CsrReasons.DnsNotMachine, $"DNS name '{san.Value}' is not a host name of machine {machine.Name}");
            if (san.Ip is { } ip && !machine.Addresses.Any(ip.Equals))
                return (CsrReasons.IpNotMachine, $"IP {ip} is not a profile address of machine {machine.Name}");
            if (san.Ip is { } nodeIp && node is not null && !node.Addresses.Any(nodeIp.Equals))
                return (CsrReasons.IpNotMachine, $"IP {nodeIp} is not among the status addresses of node {node.Name}");
        }
        return null;
    }

    /// <summary>
    /// A machine above its own cap is held alone. Above the cluster-wide cap, only machines with more
    /// than one CSR in flight are held: a flood then cannot starve the machines asking once.
    /// </summary>
    private CsrDecision CappedOrApproved(CsrFacts csr, string nodeName, MachineFacts machine, ICsrInventory inventory, string reason, string message)
    {
        var mine = inventory.PendingForMachine(machine.Name);
        if (mine > options.MaxPendingPerMachine)
            return Pending(CsrReasons.PendingCapMachine,
                $"CSR {csr.Name}: machine {machine.Name} has {mine} pending CSRs, more than {options.MaxPendingPerMachine}.", nodeName, machine.Name);

        var totalCap = inventory.MachineCount + options.PendingTotalHeadroom;
        if (inventory.TotalPending > totalCap && mine > 1)
            return Pending(CsrReasons.PendingCapTotal,
                $"CSR {csr.Name}: {inventory.TotalPending} CSRs pending cluster-wide (cap {totalCap}) and machine {machine.Name} has {mine}; holding machines with more than one.", nodeName, machine.Name);

        return new CsrDecision(CsrVerdict.Approve, reason, message, nodeName, machine.Name);
    }

    private string? IgnitionWindowProblem(MachineFacts machine, DateTimeOffset createdAt)
    {
        if (machine.LastIgnitionFetch is not { } fetched)
            return $"machine {machine.Name} never fetched its Ignition config";
        if (fetched > createdAt + options.ClockSkew)
            return $"machine {machine.Name} fetched its Ignition at {fetched:O}, after the CSR was created at {createdAt:O}";
        if (createdAt - fetched > options.IgnitionWindow)
            return $"machine {machine.Name} fetched its Ignition at {fetched:O}, more than {options.IgnitionWindow} before the CSR ({createdAt:O})";
        return null;
    }

    private string? KeyProblem(ParsedCsr request) => request.PublicKey switch
    {
        RsaKeyParameters rsa when rsa.Modulus.BitLength < options.Keys.MinimumRsaBits =>
            $"RSA key of {rsa.Modulus.BitLength} bits is below the minimum of {options.Keys.MinimumRsaBits}",
        RsaKeyParameters => null,
        ECPublicKeyParameters { PublicKeyParamSet: null } => "ECDSA key with explicit curve parameters is not allowed",
        ECPublicKeyParameters ec when !allowedCurves.Contains(ec.PublicKeyParamSet) =>
            $"ECDSA curve {NistNamedCurves.GetName(ec.PublicKeyParamSet) ?? ec.PublicKeyParamSet.Id} is not one of {string.Join(", ", options.Keys.EcdsaCurves)}",
        ECPublicKeyParameters => null,
        var other => $"{other.GetType().Name} keys are not allowed",
    };

    /// <summary>The &lt;name&gt; of a subject that is exactly CN=system:node:&lt;name&gt;, O=system:nodes, in either order.</summary>
    private static string? NodeNameFromSubject(ParsedCsr request)
    {
        var subject = request.Subject;
        if (subject.Length != 2 || subject.Any(a => a.MultiValued || a.Value is null)) return null;
        var cn = subject.SingleOrDefault(a => a.Type.Equals(CommonName));
        var o = subject.SingleOrDefault(a => a.Type.Equals(Organization));
        if (cn is null || o is null || o.Value != NodesGroup) return null;
        if (!cn.Value!.StartsWith(NodeUserPrefix, StringComparison.Ordinal) || cn.Value.Length == NodeUserPrefix.Length) return null;
        return cn.Value[NodeUserPrefix.Length..];
    }

    /// <summary>Usages must be exactly {digital signature, <paramref name="purpose"/>}, plus key encipherment for RSA-style kubelets.</summary>
    private static string? UsagesProblem(ImmutableArray<string> usages, string purpose)
    {
        var set = usages.IsDefault ? [] : usages.ToHashSet(StringComparer.Ordinal);
        if (!set.Contains(DigitalSignature) || !set.Contains(purpose))
            return $"usages must include '{DigitalSignature}' and '{purpose}', got [{string.Join(", ", set)}]";
        if (set.FirstOrDefault(u => u is not (DigitalSignature or KeyEncipherment) && u != purpose) is { } extra)
            return $"usage '{extra}' is not allowed";
        return null;
    }

    private static string? BootstrapTokenId(CsrFacts csr) =>
        csr.Username.StartsWith(BootstrapUserPrefix, StringComparison.Ordinal) && InGroup(csr, BootstrappersGroup)
            ? csr.Username[BootstrapUserPrefix.Length..]
            : null;

    private static bool IsNode(CsrFacts csr, string nodeName) =>
        csr.Username == NodeUserPrefix + nodeName && InGroup(csr, NodesGroup);

    // A default ImmutableArray (a field the worker never filled) means "none", not a crash.
    private static bool InGroup(CsrFacts csr, string group) => !csr.Groups.IsDefault && csr.Groups.Contains(group);

    private static CsrDecision Pending(string reason, string message, string? nodeName = null, string? machineName = null) =>
        new(CsrVerdict.LeavePending, reason, message, nodeName, machineName);

    private CsrDecision Forged(string reason, string message, string? nodeName = null, string? machineName = null) =>
        new(options.DenyForged ? CsrVerdict.Deny : CsrVerdict.LeavePending, reason, message, nodeName, machineName);
}
