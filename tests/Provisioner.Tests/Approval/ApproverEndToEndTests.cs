using Provisioner.Approval;
using Provisioner.Tests.Support;
using static Provisioner.Tests.Approval.CsrSpec;

namespace Provisioner.Tests.Approval;

/// <summary>
/// The decision table end to end: the real server and its approver against the fake API server, real
/// CSRs from BouncyCastle and from <c>openssl req</c> created over HTTP with the requester's own
/// credentials (the machine's bootstrap token, authenticated against the Secret the approver created).
/// Each row asserts the decision and reason at /api/v1/approver, the CSR's condition in the cluster,
/// the Event on the CSR and the metric.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class ApproverEndToEndTests(OpenSsl openssl) : IClassFixture<OpenSsl>
{
    private const string P256 = "ec:P-256";
    private static readonly string Cp0Sans = $"subjectAltName=DNS:cp-0,DNS:cp-0.{ApproverHarness.Domain},IP:192.0.2.21";
    private static string Subject(string node) => $"/O=system:nodes/CN=system:node:{node}";

    /// <summary>Arranges the world in the harness and creates the CSR; returns its name.</summary>
    private sealed record Row(Func<ApproverHarness, OpenSsl, Task<string>> Act, string Decision, string Reason, bool DenyForged = false);

    private static async Task<string> FirstJoin(ApproverHarness h, string machine, string pem) =>
        (await h.CreateCsrAsync(h.Tokens[machine].Value, pem)).Metadata.Name;

    private static readonly Dictionary<string, Row> Rows = new()
    {
        ["first join with its own token, BouncyCastle CSR → approved"] =
            new((h, _) => FirstJoin(h, "worker-0", new CsrSpec().Pem()), "approved", CsrReasons.ApprovedFirstJoin),
        ["first join with its own token, openssl CSR → approved"] =
            new((h, o) => FirstJoin(h, "cp-0", o.Request(P256, Subject("cp-0"))), "approved", CsrReasons.ApprovedFirstJoin),
        ["renewal by the node itself, openssl RSA 2048 → approved"] =
            new(async (h, o) =>
            {
                await h.RegisterNodeAsync("worker-0");
                return (await h.CreateCsrAsync(h.NodeToken("worker-0"), o.Request("rsa:2048", Subject("worker-0")), CsrSigners.KubeletClient,
                    "digital signature", "key encipherment", "client auth")).Metadata.Name;
            }, "approved", CsrReasons.ApprovedRenewal),
        ["serving with the machine's names and address, openssl → approved"] =
            new(async (h, o) =>
            {
                await h.RegisterNodeAsync("cp-0", "192.0.2.21");
                return (await h.CreateCsrAsync(h.NodeToken("cp-0"), o.Request(P256, Subject("cp-0"), Cp0Sans), CsrSigners.KubeletServing)).Metadata.Name;
            }, "approved", CsrReasons.ApprovedServing),
        ["token of worker-0 asking for cp-0 → pending"] =
            new((h, o) => FirstJoin(h, "worker-0", o.Request(P256, Subject("cp-0"))), "pending", CsrReasons.TokenBoundToOtherMachine),
        ["token of worker-0 asking for cp-0 with --deny-forged → denied"] =
            new((h, _) => FirstJoin(h, "worker-0", new CsrSpec { Subject = NodeSubject("cp-0") }.Pem()), "denied", CsrReasons.TokenBoundToOtherMachine, DenyForged: true),
        ["wrong O, openssl → subject-mismatch"] =
            new((h, o) => FirstJoin(h, "worker-0", o.Request(P256, "/O=system:masters/CN=system:node:worker-0")), "pending", CsrReasons.SubjectMismatch),
        ["serving IP SAN not the machine's, BouncyCastle → ip-not-machine"] =
            new(async (h, _) => (await h.CreateCsrAsync(h.NodeToken("cp-0"),
                new CsrSpec { Subject = NodeSubject("cp-0"), Sans = [Dns("cp-0"), Ip("192.0.2.99")] }.Pem(), CsrSigners.KubeletServing)).Metadata.Name,
                "pending", CsrReasons.IpNotMachine),
        ["extra SAN on a client CSR, openssl → unexpected-san"] =
            new((h, o) => FirstJoin(h, "worker-0", o.Request(P256, Subject("worker-0"), "subjectAltName=DNS:kubernetes.default")), "pending", CsrReasons.UnexpectedSan),
        ["RSA 1024, openssl → weak-key"] =
            new((h, o) => FirstJoin(h, "worker-0", o.Request("rsa:1024", Subject("worker-0"))), "pending", CsrReasons.WeakKey),
        ["bad signature, BouncyCastle, --deny-forged → denied"] =
            new((h, _) => FirstJoin(h, "worker-0", new CsrSpec { CorruptSignature = true }.Pem()), "denied", CsrReasons.BadSignature, DenyForged: true),
        ["CA:true, openssl → ca-extension"] =
            new((h, o) => FirstJoin(h, "worker-0", o.Request(P256, Subject("worker-0"), "basicConstraints=critical,CA:TRUE")), "pending", CsrReasons.CaExtension),
        ["unknown machine renewing → unknown-machine"] =
            new(async (h, o) => (await h.CreateCsrAsync(h.NodeToken("intruder"), o.Request(P256, Subject("intruder")))).Metadata.Name,
                "pending", CsrReasons.UnknownMachine),
        ["machine that never fetched its Ignition → ignition-window-expired"] =
            new((h, _) => FirstJoin(h, "bootstrap-0", new CsrSpec { Subject = NodeSubject("bootstrap-0") }.Pem()), "pending", CsrReasons.IgnitionWindowExpired),
        ["unknown signer → unknown-signer"] =
            new(async (h, _) => (await h.CreateCsrAsync(h.Tokens["worker-0"].Value, new CsrSpec().Pem(), "kubernetes.io/kube-apiserver-client")).Metadata.Name,
                "pending", CsrReasons.UnknownSigner),
        ["bootstrap token Provisioner did not issue → requester-mismatch"] =
            new(async (h, _) =>
            {
                h.Fake.AddUser("foreign", "system:bootstrap:zzzzzz", "system:bootstrappers");
                return (await h.CreateCsrAsync("foreign", new CsrSpec().Pem())).Metadata.Name;
            }, "pending", CsrReasons.RequesterMismatch),
    };

    public static TheoryData<string> RowNames => [.. Rows.Keys];

    [Theory]
    [MemberData(nameof(RowNames))]
    public async Task Csr_is_decided_with_the_exact_reason_and_the_decision_is_visible(string row)
    {
        var r = Rows[row];
        await using var h = await ApproverHarness.CreateAsync("worker-0", "cp-0", "bootstrap-0");
        var options = ApproverHarness.FastOptions();
        await h.StartServerAsync(options with { Policy = options.Policy with { DenyForged = r.DenyForged } });
        await h.FetchIgnitionAsync("worker-0");
        await h.FetchIgnitionAsync("cp-0");
        await h.WaitForTokenSecretAsync("worker-0");
        await h.WaitForTokenSecretAsync("cp-0");

        var name = await r.Act(h, openssl);
        var decision = await h.DecisionAsync(name);

        Assert.Equal(r.Decision, decision.GetProperty("decision").GetString());
        Assert.Equal(r.Reason, decision.GetProperty("reason").GetString());
        var condition = ApproverHarness.ConditionType(h.Csr(name));
        Assert.Equal(r.Decision switch { "approved" => "Approved", "denied" => "Denied", _ => null }, condition);
        await Eventually.That(() => h.EventsFor(name).Count > 0, $"an Event on {name}");
        var ev = Assert.Single(h.EventsFor(name));
        Assert.Equal(DecisionRecorder.EventReason(r.Reason), (string?)ev["reason"]);
        Assert.Equal("CertificateSigningRequest", (string?)ev["involvedObject"]!["kind"]);
        Assert.Equal(1, await h.MetricAsync("provisioner_csr_decisions_total", ("decision", r.Decision), ("reason", r.Reason)));
    }
}
