using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Provisioner.Approval;
using Provisioner.Hosting;
using Provisioner.Tests.Support;
using Provisioner.Tokens;

namespace Provisioner.Tests.Approval;

/// <summary>The approver inside the real server: connecting, tokens, caps, and what it reports.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class ApproverWorkerTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<string> StateAsync(ApproverHarness h) => (await h.ApproverAsync()).GetProperty("state").GetString()!;

    private static async Task WaitForStateAsync(ApproverHarness h, string state) =>
        await Eventually.That(async () => await StateAsync(h) == state, $"approver state {state}");

    [Fact]
    public async Task Machine_that_fetched_its_Ignition_joins_with_its_token_and_is_approved()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync();
        await h.FetchIgnitionAsync("worker-0");
        await h.WaitForTokenSecretAsync("worker-0");

        var csr = await h.CreateCsrAsync(h.Tokens["worker-0"].Value, new CsrSpec().Pem());

        await Eventually.That(() => ApproverHarness.ConditionType(h.Csr(csr.Metadata.Name)) == "Approved", "the CSR to be approved");
        var condition = h.Csr(csr.Metadata.Name)["status"]!["conditions"]![0]!;
        Assert.Equal("True", (string?)condition["status"]);
        Assert.Equal(DecisionRecorder.ApprovedConditionReason, (string?)condition["reason"]);
        Assert.StartsWith(CsrReasons.ApprovedFirstJoin + ":", (string?)condition["message"]);
        Assert.NotNull((string?)condition["lastUpdateTime"]);
        using var readyz = JsonDocument.Parse(await h.Server.Client.GetStringAsync("/readyz", Ct));
        Assert.Equal(ApproverStates.Leader, readyz.RootElement.GetProperty("approver").GetProperty("state").GetString());
    }

    [Fact]
    public async Task Bootstrap_token_secrets_are_created_for_every_issued_token()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0", "cp-0");
        await h.StartServerAsync();
        await h.WaitForTokenSecretAsync("worker-0");
        await h.WaitForTokenSecretAsync("cp-0");

        var secret = h.Fake.Get("secrets", "kube-system", h.Tokens["cp-0"].SecretName)!;
        Assert.Equal(BootstrapToken.SecretType, (string?)secret["type"]);
        Assert.Equal("cp-0", (string?)secret["metadata"]!["labels"]![BootstrapToken.MachineLabel]);
        string Data(string key) => Encoding.UTF8.GetString(Convert.FromBase64String((string)secret["data"]![key]!));
        Assert.Equal(h.Tokens["cp-0"].Id, Data("token-id"));
        Assert.Equal(h.Tokens["cp-0"].Secret, Data("token-secret"));
        Assert.Equal(BootstrapToken.ExtraGroup, Data("auth-extra-groups"));
    }

    [Fact]
    public async Task Token_minted_by_another_process_gets_its_secret_without_waiting_for_a_resync()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync(ApproverHarness.FastOptions() with { ResyncInterval = TimeSpan.FromHours(1) });
        await h.WaitForTokenSecretAsync("worker-0");

        // As `provisioner render` does on the same cluster directory while serve runs, here for a machine the
        // running server's profiles do not have yet (serve mints the tokens of its own machines itself).
        var render = await BootstrapTokenStore.OpenAsync(h.TokenFile, TimeProvider.System, TimeSpan.FromHours(24), Ct);
        var minted = await render.GetOrMintAsync("worker-9", Ct);

        await Eventually.That(() => h.Fake.Get("secrets", "kube-system", minted.SecretName) is not null, "the Secret of the token minted elsewhere");
    }

    [Fact]
    public async Task Leader_that_may_not_list_nodes_says_so_and_decides_once_it_may()
    {
        await using var h = await ApproverHarness.CreateAsync();
        await h.SeedNodeAsync("worker-0");
        h.Fake.Forbid(Provisioner.FakeKubernetes.Kinds.Node.Plural);
        await h.StartServerAsync();
        await Eventually.That(async () => (await DetailAsync(h))?.Contains("listing Nodes fails") == true,
            "the approver to say it cannot list Nodes");
        var csr = (await h.CreateRenewalsAsync("worker-0", 1))[0];
        Assert.Equal(ApproverStates.Leader, (await h.ApproverAsync()).GetProperty("state").GetString());
        Assert.Null(ApproverHarness.ConditionType(h.Csr(csr))); // no decision without knowing the Nodes

        h.Fake.Permit(Provisioner.FakeKubernetes.Kinds.Node.Plural);

        await Eventually.That(() => ApproverHarness.ConditionType(h.Csr(csr)) == "Approved", "the renewal approved");
        Assert.Equal("holds lease kube-system/provisioner-approver", await DetailAsync(h));
    }

    private static async Task<string?> DetailAsync(ApproverHarness h) =>
        (await h.ApproverAsync()).TryGetProperty("detail", out var detail) ? detail.GetString() : null;

    [Fact]
    public async Task Expired_token_is_pruned_and_its_secret_deleted()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        var shortLived = await BootstrapTokenStore.OpenAsync(h.TokenFile, TimeProvider.System, TimeSpan.FromSeconds(3), Ct);
        await shortLived.RevokeAsync(h.Tokens["worker-0"].Id, Ct);
        var token = await shortLived.GetOrMintAsync("cp-0", Ct);
        await h.StartServerAsync(ApproverHarness.FastOptions() with { ResyncInterval = TimeSpan.FromMilliseconds(500) });

        await Eventually.That(() => h.Fake.Get("secrets", "kube-system", token.SecretName) is not null, "the Secret while the token is valid");
        await Eventually.That(() => h.Fake.Get("secrets", "kube-system", token.SecretName) is null, "the Secret to go once the token expired");
        // Only the expired token goes; serve's start-up render may have minted fresh ones since.
        var store = await BootstrapTokenStore.OpenAsync(h.TokenFile, TimeProvider.System, TimeSpan.FromHours(24), Ct);
        Assert.Null(store.FindById(token.Id));
    }

    [Fact]
    public async Task Machine_above_its_pending_cap_waits_while_other_machines_are_served()
    {
        await using var h = await ApproverHarness.CreateAsync();
        await h.SeedNodeAsync("worker-0");
        await h.SeedNodeAsync("cp-0");
        var flood = new List<string>();
        for (var i = 0; i < 4; i++)
            flood.Add((await h.CreateCsrAsync(h.NodeToken("worker-0"), new CsrSpec().Pem())).Metadata.Name);
        var other = (await h.CreateCsrAsync(h.NodeToken("cp-0"), new CsrSpec { Subject = CsrSpec.NodeSubject("cp-0") }.Pem())).Metadata.Name;

        await h.StartServerAsync();

        Assert.Equal(CsrReasons.ApprovedRenewal, (await h.DecisionAsync(other)).GetProperty("reason").GetString());
        foreach (var name in flood)
        {
            var decision = await h.DecisionAsync(name);
            Assert.Equal("pending", decision.GetProperty("decision").GetString());
            Assert.Equal(CsrReasons.PendingCapMachine, decision.GetProperty("reason").GetString());
            Assert.Null(ApproverHarness.ConditionType(h.Csr(name)));
        }
        Assert.Equal(4, (await h.ApproverAsync()).GetProperty("pending").GetInt32());
        Assert.Equal(4, await h.MetricAsync("provisioner_csr_pending"));
    }

    [Fact]
    public async Task Pending_decision_is_reported_once_not_on_every_resync()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync(ApproverHarness.FastOptions() with { ResyncInterval = TimeSpan.FromMilliseconds(300) });
        var csr = (await h.CreateCsrAsync(h.NodeToken("intruder"), new CsrSpec { Subject = CsrSpec.NodeSubject("intruder") }.Pem())).Metadata.Name;
        await h.DecisionAsync(csr);

        var lists = h.Fake.Requests.Count(IsCsrList);
        await Eventually.That(() => h.Fake.Requests.Count(IsCsrList) >= lists + 3, "three more resyncs");

        Assert.Single(h.EventsFor(csr));
        Assert.Single(await h.RecentDecisionsAsync(), d => d.GetProperty("csr").GetString() == csr);
        Assert.Equal(1, await h.MetricAsync("provisioner_csr_decisions_total", ("reason", CsrReasons.UnknownMachine)));
    }

    private static bool IsCsrList(Provisioner.FakeKubernetes.RecordedRequest r) =>
        r.Method == "GET" && r.PathAndQuery.StartsWith("/apis/certificates.k8s.io/v1/certificatesigningrequests", StringComparison.Ordinal)
        && !r.PathAndQuery.Contains("watch=true", StringComparison.Ordinal) && !r.PathAndQuery.Contains("limit=1", StringComparison.Ordinal)
        && !r.PathAndQuery.StartsWith("/apis/certificates.k8s.io/v1/certificatesigningrequests/", StringComparison.Ordinal);

    [Fact]
    public async Task Until_the_API_answers_the_approver_reports_waiting_for_api_then_leads()
    {
        await using var h = await ApproverHarness.CreateAsync();
        h.Fake.Unavailable = true;
        await h.StartServerAsync();

        await WaitForStateAsync(h, ApproverStates.WaitingForApi);
        using (var readyz = JsonDocument.Parse(await h.Server.Client.GetStringAsync("/readyz", Ct)))
        {
            var approver = readyz.RootElement.GetProperty("approver");
            Assert.Equal(ApproverStates.WaitingForApi, approver.GetProperty("state").GetString());
            Assert.Contains("503", approver.GetProperty("detail").GetString());
        }

        h.Fake.Unavailable = false;
        await WaitForStateAsync(h, ApproverStates.Leader);
    }

    [Fact]
    public async Task Missing_kubeconfig_disables_the_approver_and_says_why()
    {
        await using var h = await ApproverHarness.CreateAsync();
        File.Delete(h.KubeconfigPath);
        await h.StartServerAsync();

        await WaitForStateAsync(h, ApproverStates.Disabled);
        var detail = (await h.ApproverAsync()).GetProperty("detail").GetString();
        Assert.Contains(h.KubeconfigPath, detail);
        Assert.Contains("does not exist", detail);
        Assert.Empty(h.Fake.Requests);
    }

    [Fact]
    public async Task Without_a_kubeconfig_flag_the_one_rendered_into_the_cluster_directory_is_used()
    {
        using var tree = new ProfileTree();
        // A loopback endpoint where no API server runs: the approver must say it is waiting for that very API.
        tree.Edit("cluster.yaml", "apiEndpoint: api.demo.example.test", "apiEndpoint: 127.0.0.1");
        await using var server = await RunningServer.StartAsync(tree, o => o with { Approver = ApproverHarness.FastOptions() });

        var rendered = ApproverOptions.DefaultKubeconfig(server.Server.Services.GetRequiredService<ServerOptions>().ResolvedClusterDirectory);
        var detail = await Eventually.Value(async () =>
        {
            using var doc = JsonDocument.Parse(await server.Client.GetStringAsync("/api/v1/approver", Ct));
            return doc.RootElement.GetProperty("state").GetString() == ApproverStates.WaitingForApi ? doc.RootElement.GetProperty("detail").GetString() : null;
        }, d => d?.Contains("https://127.0.0.1:6443") == true, "the approver waiting for https://127.0.0.1:6443");
        Assert.True(File.Exists(rendered));
        Assert.Contains("https://127.0.0.1:6443", detail);
    }

    [Fact]
    public async Task No_approver_flag_turns_it_off()
    {
        await using var h = await ApproverHarness.CreateAsync();
        await h.StartServerAsync(ApproverHarness.FastOptions() with { Enabled = false });

        await WaitForStateAsync(h, ApproverStates.Disabled);
        Assert.Contains("--no-approver", (await h.ApproverAsync()).GetProperty("detail").GetString());
        Assert.Empty(h.Fake.Requests);
    }

    [Fact]
    public async Task Unusable_kubeconfig_disables_the_approver_without_stopping_the_server()
    {
        await using var h = await ApproverHarness.CreateAsync();
        await File.WriteAllTextAsync(h.KubeconfigPath, "this: is: not: a kubeconfig", Ct);
        await h.StartServerAsync();

        await WaitForStateAsync(h, ApproverStates.Disabled);
        Assert.Contains("not usable", (await h.ApproverAsync()).GetProperty("detail").GetString());
        Assert.Equal("ok\n", await h.Server.Client.GetStringAsync("/healthz", Ct));
    }
}
