using k8s;
using k8s.Autorest;
using Provisioner.Approval;
using Provisioner.Inventory;
using Provisioner.Tests.Support;
using Provisioner.Tokens;

namespace Provisioner.Tests.Approval;

/// <summary>
/// What a real kube-apiserver, controller-manager and kubelet did to the approver (issue 11): a restart of
/// <c>serve</c> between a machine's Ignition delivery and its CSR, a kubelet restarting before its certificate was
/// issued, forged CSRs naming a victim, and evidence that arrives after a CSR was left pending.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class ApproverTokenLifecycleTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ApproverOptions NoResync => ApproverHarness.FastOptions() with { ResyncInterval = TimeSpan.FromHours(1) };

    private static async Task<string> ReasonAsync(ApproverHarness h, string csr) =>
        (await h.DecisionAsync(csr)).GetProperty("reason").GetString()!;

    private static async Task<BootstrapTokenStore> TokenFileAsync(ApproverHarness h) =>
        await BootstrapTokenStore.OpenAsync(h.TokenFile, TimeProvider.System, TimeSpan.FromHours(24), Ct);

    [Fact]
    public async Task Machine_that_fetched_its_Ignition_before_a_serve_restart_is_still_approved_after_it()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync();
        await h.FetchIgnitionAsync("worker-0");
        await h.Server.DisposeAsync();

        await h.StartServerAsync();
        await h.WaitForTokenSecretAsync("worker-0");
        var csr = (await h.CreateCsrAsync(h.Tokens["worker-0"].Value, new CsrSpec().Pem())).Metadata.Name;

        Assert.Equal(CsrReasons.ApprovedFirstJoin, await ReasonAsync(h, csr));
        Assert.Equal("Approved", ApproverHarness.ConditionType(h.Csr(csr)));
    }

    [Fact]
    public async Task Ignition_delivery_is_persisted_with_time_and_address_and_shown_in_the_machine_list()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync();
        await h.FetchIgnitionAsync("worker-0");

        var store = await MachineStateStore.OpenAsync(MachineStateStore.PathIn(h.ClusterDirectory), TimeProvider.System, Ct);
        var delivery = store.Get("worker-0")?.LastDelivery(DeliveryKinds.Ignition);
        Assert.NotNull(delivery);
        Assert.Equal("127.0.0.1", delivery.Address);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(store.FilePath));
        var machine = await h.Server.MachineAsync("worker-0", Ct);
        Assert.Equal(MachinePhases.Provisioning, machine.GetProperty("phase").GetString());
        Assert.Equal(DeliveryKinds.Ignition, machine.GetProperty("deliveries")[0].GetProperty("what").GetString());
    }

    [Fact]
    public async Task Reported_ignition_stage_is_not_evidence_of_a_delivery()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync(NoResync);
        await h.WaitForTokenSecretAsync("worker-0");
        using var forged = await h.Server.Client.PostAsync("/api/v1/progress",
            new StringContent("""{"machine":"worker-0","stage":"ignition"}""", System.Text.Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, forged.StatusCode); // no report key: refused, and not evidence anyway

        var csr = (await h.CreateCsrAsync(h.Tokens["worker-0"].Value, new CsrSpec().Pem())).Metadata.Name;

        Assert.Equal(CsrReasons.IgnitionWindowExpired, await ReasonAsync(h, csr));
    }

    [Fact]
    public async Task Csr_left_pending_for_a_missing_delivery_is_decided_again_as_soon_as_the_machine_fetches_its_config()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync(NoResync);
        await h.WaitForTokenSecretAsync("worker-0");
        var csr = (await h.CreateCsrAsync(h.Tokens["worker-0"].Value, new CsrSpec().Pem())).Metadata.Name;
        Assert.Equal(CsrReasons.IgnitionWindowExpired, await ReasonAsync(h, csr));

        await h.FetchIgnitionAsync("worker-0"); // within the clock skew after the CSR, as a slow Ignition run may be

        await ApproverHarness.Eventually(() => ApproverHarness.ConditionType(h.Csr(csr)) == "Approved", "the CSR approved without a resync");
    }

    [Fact]
    public async Task Serving_csr_held_for_a_node_address_is_decided_again_when_the_node_reports_it()
    {
        await using var h = await ApproverHarness.CreateAsync();
        await h.StartServerAsync(NoResync);
        await h.RegisterNodeAsync("cp-0");
        var pem = new CsrSpec { Subject = CsrSpec.NodeSubject("cp-0"), Sans = [CsrSpec.Dns("cp-0"), CsrSpec.Ip("192.0.2.21")] }.Pem();
        var csr = (await h.CreateCsrAsync(h.NodeToken("cp-0"), pem, CsrSigners.KubeletServing)).Metadata.Name;
        Assert.Equal(CsrReasons.IpNotMachine, await ReasonAsync(h, csr));

        var node = await h.Admin.CoreV1.ReadNodeAsync("cp-0", cancellationToken: Ct);
        node.Status.Addresses = [new k8s.Models.V1NodeAddress { Type = "InternalIP", Address = "192.0.2.21" }];
        await h.Admin.CoreV1.ReplaceNodeStatusAsync(node, "cp-0", cancellationToken: Ct);

        await ApproverHarness.Eventually(() => ApproverHarness.ConditionType(h.Csr(csr)) == "Approved", "the serving CSR approved without a resync");
    }

    [Fact]
    public async Task Approval_alone_keeps_the_token_so_a_kubelet_that_restarted_before_issuance_can_ask_again()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync();
        await h.FetchIgnitionAsync("worker-0");
        await h.WaitForTokenSecretAsync("worker-0");
        var token = h.Tokens["worker-0"];
        var orphan = (await h.CreateCsrAsync(token.Value, new CsrSpec().Pem())).Metadata.Name;
        await ApproverHarness.Eventually(() => ApproverHarness.ConditionType(h.Csr(orphan)) == "Approved", "the first CSR approved");

        // The kubelet restarted with a new key: with a revoked token the real one looped on "Unauthorized" forever.
        var retry = (await h.CreateCsrAsync(token.Value, new CsrSpec { Key = TestKeys.P384 }.Pem())).Metadata.Name;

        Assert.Equal(CsrReasons.ApprovedFirstJoin, await ReasonAsync(h, retry));
        Assert.NotNull((await TokenFileAsync(h)).FindById(token.Id));
        Assert.NotNull(h.Fake.Get("secrets", "kube-system", token.SecretName));
    }

    [Fact]
    public async Task Token_is_revoked_and_its_secret_deleted_once_the_node_registers()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0", "cp-0");
        await h.StartServerAsync();
        await h.FetchIgnitionAsync("worker-0");
        await h.WaitForTokenSecretAsync("worker-0");
        var token = h.Tokens["worker-0"];
        var csr = (await h.CreateCsrAsync(token.Value, new CsrSpec().Pem())).Metadata.Name;
        await ApproverHarness.Eventually(() => ApproverHarness.ConditionType(h.Csr(csr)) == "Approved", "the CSR approved");

        await h.RegisterNodeAsync("worker-0");

        await ApproverHarness.Eventually(() => h.Fake.Get("secrets", "kube-system", token.SecretName) is null, "the token's Secret to be deleted");
        Assert.Null((await TokenFileAsync(h)).FindById(token.Id));
        Assert.NotNull((await TokenFileAsync(h)).FindById(h.Tokens["cp-0"].Id));
        Assert.NotNull(h.Fake.Get("secrets", "kube-system", h.Tokens["cp-0"].SecretName));
        var revoked = await Assert.ThrowsAsync<HttpOperationException>(() => h.CreateCsrAsync(token.Value, new CsrSpec().Pem()));
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, revoked.Response.StatusCode);
        await ApproverHarness.Eventually(async () => (await h.Server.MachineAsync("worker-0", Ct)).GetProperty("phase").GetString() == MachinePhases.Provisioned,
            "worker-0 provisioned in the machine list");
    }

    [Fact]
    public async Task Of_two_pending_first_joins_of_one_machine_only_the_newest_is_approved_and_the_older_is_superseded()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync(NoResync);
        await h.FetchIgnitionAsync("worker-0");
        await h.WaitForTokenSecretAsync("worker-0");
        // Both requests arrive while no approver runs, so the next leader lists them together, as in one batch.
        await h.Server.DisposeAsync();
        var token = h.Tokens["worker-0"].Value;
        var older = (await h.CreateCsrAsync(token, new CsrSpec().Pem())).Metadata.Name;
        var newer = (await h.CreateCsrAsync(token, new CsrSpec { Key = TestKeys.P384 }.Pem())).Metadata.Name;

        await h.StartServerAsync(NoResync);

        Assert.Equal(CsrReasons.ApprovedFirstJoin, await ReasonAsync(h, newer));
        Assert.Equal(CsrReasons.Superseded, await ReasonAsync(h, older));
        Assert.Null(ApproverHarness.ConditionType(h.Csr(older)));
        Assert.Single(h.Fake.ApprovalWrites);
    }

    [Fact]
    public async Task Csrs_forged_with_another_machines_token_do_not_use_up_the_victims_cap()
    {
        await using var h = await ApproverHarness.CreateAsync("cp-0");
        await h.StartServerAsync();
        await h.FetchIgnitionAsync("cp-0");
        await h.WaitForTokenSecretAsync("cp-0");
        await h.RegisterNodeAsync("worker-0");
        var forged = new List<string>();
        for (var i = 0; i < 4; i++)
            forged.Add((await h.CreateCsrAsync(h.Tokens["cp-0"].Value, new CsrSpec().Pem())).Metadata.Name);

        var renewal = (await h.CreateRenewalsAsync("worker-0", 1))[0];

        Assert.Equal(CsrReasons.ApprovedRenewal, await ReasonAsync(h, renewal));
        foreach (var name in forged)
            Assert.Equal(CsrReasons.TokenBoundToOtherMachine, await ReasonAsync(h, name));
    }

    [Fact]
    public async Task Config_asked_again_after_the_node_joined_is_refused_and_mints_no_token()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync();
        await h.FetchIgnitionAsync("worker-0");
        await h.RegisterNodeAsync("worker-0");
        await ApproverHarness.Eventually(async () => (await TokenFileAsync(h)).ForMachine("worker-0").IsEmpty, "worker-0's token revoked");

        var pointer = await h.Server.PointerAsync(await h.Server.IgnitionUrlAsync($"mac={ApproverHarness.Macs["worker-0"]}", Ct), Ct);
        using var again = await SecureIgnition.FetchMergedAsync(pointer, Ct);

        Assert.Equal(System.Net.HttpStatusCode.Gone, again.StatusCode);
        Assert.Empty((await TokenFileAsync(h)).ForMachine("worker-0"));
        Assert.Equal(0, await h.MetricAsync("provisioner_bootstrap_tokens_reissued_after_join_total", ("machine", "worker-0")));
    }

    [Fact]
    public async Task Restart_after_a_join_does_not_mint_the_joined_machines_token_again()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync();
        await h.FetchIgnitionAsync("worker-0");
        await h.RegisterNodeAsync("worker-0");
        await ApproverHarness.Eventually(async () => (await TokenFileAsync(h)).ForMachine("worker-0").IsEmpty, "worker-0's token revoked");
        await h.Server.DisposeAsync();

        await h.StartServerAsync();

        Assert.Empty((await TokenFileAsync(h)).ForMachine("worker-0"));
        Assert.NotEmpty((await TokenFileAsync(h)).ForMachine("cp-0"));
    }
}

/// <summary><c>POST /api/v1/machines/{name}/reprovision</c> and <c>provisioner machines reprovision</c>.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class ReprovisionTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<BootstrapTokenStore> TokenFileAsync(ApproverHarness h) =>
        await BootstrapTokenStore.OpenAsync(h.TokenFile, TimeProvider.System, TimeSpan.FromHours(24), Ct);

    private static Task<HttpResponseMessage> ReprovisionAsync(ApproverHarness h, string machine, string contentType = "application/json") =>
        h.Server.Client.PostAsync($"/api/v1/machines/{machine}/reprovision", new StringContent("{}", System.Text.Encoding.UTF8, contentType), Ct);

    [Fact]
    public async Task Reprovisioned_machine_starts_a_new_round_with_a_fresh_token_and_joins_again_once_its_old_node_is_gone()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync();
        await h.FetchIgnitionAsync("worker-0");
        await h.RegisterNodeAsync("worker-0");
        await ApproverHarness.Eventually(async () => (await TokenFileAsync(h)).ForMachine("worker-0").IsEmpty, "the first round's token revoked");

        using var answer = await ReprovisionAsync(h, "worker-0");
        Assert.True(answer.IsSuccessStatusCode, await answer.Content.ReadAsStringAsync(Ct));
        Assert.Equal(MachinePhases.Ready, (await h.Server.MachineAsync("worker-0", Ct)).GetProperty("phase").GetString());

        await h.FetchIgnitionAsync("worker-0");
        var fresh = Assert.Single((await TokenFileAsync(h)).ForMachine("worker-0"));
        Assert.Equal(0, await h.MetricAsync("provisioner_bootstrap_tokens_reissued_after_join_total", ("machine", "worker-0")));
        await ApproverHarness.Eventually(() => h.Fake.Get("secrets", "kube-system", fresh.SecretName) is not null, "the fresh token's Secret");
        // The last round's Node reports in: no proof for this round, so the fresh token stays.
        var node = await h.Admin.CoreV1.ReadNodeAsync("worker-0", cancellationToken: Ct);
        node.Metadata.Labels = new Dictionary<string, string> { ["touched"] = "yes" };
        await h.Admin.CoreV1.ReplaceNodeAsync(node, "worker-0", cancellationToken: Ct);
        await h.Admin.CoreV1.DeleteNodeAsync("worker-0", cancellationToken: Ct);

        var csr = (await h.CreateCsrAsync(fresh.Value, new CsrSpec().Pem())).Metadata.Name;

        Assert.Equal(CsrReasons.ApprovedFirstJoin, (await h.DecisionAsync(csr)).GetProperty("reason").GetString());
        Assert.NotNull((await TokenFileAsync(h)).FindById(fresh.Id));
    }

    [Fact]
    public async Task Reprovision_revokes_the_tokens_handed_out_so_far()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync();
        var old = h.Tokens["worker-0"];
        await h.WaitForTokenSecretAsync("worker-0");

        using var answer = await ReprovisionAsync(h, "worker-0");

        using var doc = System.Text.Json.JsonDocument.Parse(await answer.Content.ReadAsStringAsync(Ct));
        Assert.Equal([old.Id], doc.RootElement.GetProperty("revokedTokens").EnumerateArray().Select(t => t.GetString()));
        Assert.Null((await TokenFileAsync(h)).FindById(old.Id));
        await ApproverHarness.Eventually(() => h.Fake.Get("secrets", "kube-system", old.SecretName) is null, "the revoked token's Secret deleted");
    }

    [Fact]
    public async Task Reprovision_needs_a_json_post_and_a_known_machine()
    {
        await using var h = await ApproverHarness.CreateAsync();
        await h.StartServerAsync();

        using var form = await ReprovisionAsync(h, "worker-0", "application/x-www-form-urlencoded");
        using var unknown = await ReprovisionAsync(h, "worker-9");

        Assert.Equal(System.Net.HttpStatusCode.UnsupportedMediaType, form.StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Fact]
    public async Task Cli_reprovisions_through_the_running_server()
    {
        await using var h = await ApproverHarness.CreateAsync("worker-0");
        await h.StartServerAsync();

        var (exit, output, errors) = await CliRun.RunAsync(["machines", "reprovision", "worker-0", "--server", h.Server.BaseAddress.ToString()]);

        Assert.True(exit == 0, errors);
        Assert.StartsWith($"worker-0: ready; 1 bootstrap token(s) revoked ({h.Tokens["worker-0"].Id})", output);
    }
}
