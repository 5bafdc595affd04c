using Provisioner.Approval;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Approval;

/// <summary>
/// The policy against CSRs made by the real <c>openssl req</c>, as kubelets and attackers would send
/// them: the legitimate join, renewal and serving requests, and every forgery the policy must catch.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class OpensslCsrPolicyTests(OpenSsl openssl) : IClassFixture<OpenSsl>
{
    private const string Worker0 = "/O=system:nodes/CN=system:node:worker-0";
    private const string P256 = "ec:P-256";
    private const string ServingSans = "subjectAltName=DNS:worker-0,DNS:worker-0.lab.example.com,IP:10.0.0.10";
    private static readonly CsrPolicyOptions Denying = new() { DenyForged = true };
    private static readonly InventorySnapshot Fresh = World.Inventory;
    private static readonly InventorySnapshot Joined = World.Inventory.WithNode("worker-0", World.Worker0Ip);

    private sealed record Row(Func<OpenSsl, CsrFacts> Csr, InventorySnapshot Inventory, CsrVerdict Verdict, string Reason, CsrPolicyOptions? Options = null);

    private static readonly Dictionary<string, Row> Rows = new()
    {
        ["valid first join, ECDSA P-256 → approved"] =
            new(o => Requests.FirstJoin(o.Request(P256, Worker0)), Fresh, CsrVerdict.Approve, CsrReasons.ApprovedFirstJoin),
        ["valid first join, RSA 2048 → approved"] =
            new(o => Requests.FirstJoin(o.Request("rsa:2048", Worker0)) with { Usages = ["digital signature", "key encipherment", "client auth"] },
                Fresh, CsrVerdict.Approve, CsrReasons.ApprovedFirstJoin),
        ["valid renewal, ECDSA P-384 → approved"] =
            new(o => Requests.Renewal(o.Request("ec:P-384", Worker0)), Joined, CsrVerdict.Approve, CsrReasons.ApprovedRenewal),
        ["valid serving → approved"] =
            new(o => Requests.Serving(o.Request(P256, Worker0, ServingSans)), Joined, CsrVerdict.Approve, CsrReasons.ApprovedServing),
        ["wrong O → subject-mismatch"] =
            new(o => Requests.FirstJoin(o.Request(P256, "/O=system:masters/CN=system:node:worker-0")), Fresh, CsrVerdict.LeavePending, CsrReasons.SubjectMismatch),
        ["wrong CN → subject-mismatch"] =
            new(o => Requests.FirstJoin(o.Request(P256, "/O=system:nodes/CN=worker-0")), Fresh, CsrVerdict.LeavePending, CsrReasons.SubjectMismatch),
        ["extra SAN on a client CSR → unexpected-san"] =
            new(o => Requests.FirstJoin(o.Request(P256, Worker0, "subjectAltName=DNS:kubernetes.default")), Fresh, CsrVerdict.LeavePending, CsrReasons.UnexpectedSan),
        ["extra DNS SAN on a serving CSR → dns-not-machine"] =
            new(o => Requests.Serving(o.Request(P256, Worker0, ServingSans + ",DNS:kubernetes.default")), Joined, CsrVerdict.LeavePending, CsrReasons.DnsNotMachine),
        ["serving IP SAN not the machine's → ip-not-machine"] =
            new(o => Requests.Serving(o.Request(P256, Worker0, "subjectAltName=DNS:worker-0,IP:10.0.0.11")), Joined, CsrVerdict.LeavePending, CsrReasons.IpNotMachine),
        ["serving email SAN → unexpected-san"] =
            new(o => Requests.Serving(o.Request(P256, Worker0, "subjectAltName=DNS:worker-0,email:root@worker-0")), Joined, CsrVerdict.LeavePending, CsrReasons.UnexpectedSan),
        ["token of worker-1 asking for worker-0 → denied"] =
            new(o => Requests.FirstJoin(o.Request(P256, Worker0), World.Worker1Token), Fresh, CsrVerdict.Deny, CsrReasons.TokenBoundToOtherMachine, Denying),
        ["RSA 1024 → weak-key"] =
            new(o => Requests.FirstJoin(o.Request("rsa:1024", Worker0)), Fresh, CsrVerdict.LeavePending, CsrReasons.WeakKey),
        ["bad signature → denied"] =
            new(o => Requests.FirstJoin(OpenSsl.WithCorruptSignature(o.Request(P256, Worker0))), Fresh, CsrVerdict.Deny, CsrReasons.BadSignature, Denying),
        ["bad RSA signature → left pending without DenyForged"] =
            new(o => Requests.FirstJoin(OpenSsl.WithCorruptSignature(o.Request("rsa:2048", Worker0))), Fresh, CsrVerdict.LeavePending, CsrReasons.BadSignature),
        ["CA:true → denied"] =
            new(o => Requests.FirstJoin(o.Request(P256, Worker0, "basicConstraints=critical,CA:TRUE")), Fresh, CsrVerdict.Deny, CsrReasons.CaExtension, Denying),
        ["keyCertSign → ca-extension"] =
            new(o => Requests.FirstJoin(o.Request(P256, Worker0, "keyUsage=critical,digitalSignature,keyCertSign")), Fresh, CsrVerdict.LeavePending, CsrReasons.CaExtension),
        ["unknown machine renewing → unknown-machine"] =
            new(o => Requests.Renewal(o.Request(P256, "/O=system:nodes/CN=system:node:worker-9"), "worker-9"), Fresh, CsrVerdict.LeavePending, CsrReasons.UnknownMachine),
        ["expired Ignition window → ignition-window-expired"] =
            new(o => Requests.FirstJoin(o.Request(P256, Worker0)), Fresh.WithLastIgnition("worker-0", World.Now.AddDays(-2)), CsrVerdict.LeavePending, CsrReasons.IgnitionWindowExpired),
        ["node already exists → node-exists"] =
            new(o => Requests.FirstJoin(o.Request(P256, Worker0)), Joined, CsrVerdict.LeavePending, CsrReasons.NodeExists),
        ["unknown signer → unknown-signer"] =
            new(o => Requests.FirstJoin(o.Request(P256, Worker0)) with { SignerName = "example.com/custom" }, Fresh, CsrVerdict.LeavePending, CsrReasons.UnknownSigner),
        ["flood from one machine → pending-cap-machine"] =
            new(o => Requests.FirstJoin(o.Request(P256, Worker0)), Fresh.WithPending("worker-0", 10, 11), CsrVerdict.LeavePending, CsrReasons.PendingCapMachine),
        ["cluster-wide flood, machine with several pending → pending-cap-total"] =
            new(o => Requests.FirstJoin(o.Request(P256, Worker0)), Fresh.WithPending("worker-0", 3, 100), CsrVerdict.LeavePending, CsrReasons.PendingCapTotal),
        ["cluster-wide flood, machine asking once → approved"] =
            new(o => Requests.FirstJoin(o.Request(P256, Worker0)), Fresh.WithPending("worker-0", 1, 100), CsrVerdict.Approve, CsrReasons.ApprovedFirstJoin),
    };

    public static TheoryData<string> Cases => [.. Rows.Keys];

    [Theory]
    [MemberData(nameof(Cases))]
    public void Decides(string name)
    {
        Requires.Program("openssl", "openssl");
        var row = Rows[name];

        var decision = new CsrPolicy(row.Options ?? CsrPolicyOptions.Default).Decide(row.Csr(openssl), row.Inventory);

        Assert.Equal((row.Verdict, row.Reason), (decision.Verdict, decision.Reason));
    }
}
