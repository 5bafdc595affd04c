using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Provisioner.Approval;
using Provisioner.FakeKubernetes;
using Provisioner.Tests.Support;
using Provisioner.Tokens;

namespace Provisioner.Tests.Approval;

/// <summary>
/// The real Provisioner server (with its approver) on loopback, pointed by kubeconfig at a fake Kubernetes
/// API, with the example profiles: bootstrap-0 (192.0.2.20), cp-0 (192.0.2.21), worker-0 (DHCP), domain
/// demo.example.test. Tokens issued before the start are persisted in the cluster directory, as the
/// Ignition endpoint leaves them.
/// </summary>
internal sealed class ApproverHarness : IAsyncDisposable
{
    public const string ApproverToken = "approver-token";
    public const string AdminToken = "admin-token";
    public const string Domain = "demo.example.test";
    public static readonly IReadOnlyDictionary<string, string> Macs = new Dictionary<string, string>
    {
        ["bootstrap-0"] = "52:54:00:00:10:01",
        ["cp-0"] = "52:54:00:00:20:01",
        ["worker-0"] = "52:54:00:00:30:01",
    };

    private readonly string _clusterDir;

    private ApproverHarness(FakeKubernetesApi fake, ProfileTree tree, string clusterDir, Kubernetes admin, IReadOnlyDictionary<string, BootstrapToken> tokens)
    {
        Fake = fake;
        Tree = tree;
        _clusterDir = clusterDir;
        Admin = admin;
        Tokens = tokens;
    }

    public FakeKubernetesApi Fake { get; }
    public ProfileTree Tree { get; }
    public Kubernetes Admin { get; }
    public RunningServer Server { get; private set; } = null!;
    public IReadOnlyDictionary<string, BootstrapToken> Tokens { get; }
    /// <summary>
    /// The fake API's kubeconfig, given to the server as --kubeconfig: the auth/ default is the one the server
    /// renders for the real cluster, which points at the profiles' API endpoint, not at the fake.
    /// </summary>
    public string KubeconfigPath => FakeKubeconfigPath(Tree);

    private static string FakeKubeconfigPath(ProfileTree tree) => Path.Combine(tree.Root, "fake-api.kubeconfig");
    public string TokenFile => Path.Combine(_clusterDir, "auth", BootstrapTokenStore.FileName);
    public string ClusterDirectory => _clusterDir;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Fast timings for tests: short leases, quick retries. A null <paramref name="identity"/> is the stable one of the cluster directory.</summary>
    public static ApproverOptions FastOptions(string? identity = "provisioner-a") => new()
    {
        Identity = identity,
        LeaseDuration = TimeSpan.FromSeconds(2),
        RenewDeadline = TimeSpan.FromSeconds(1.5),
        RetryPeriod = TimeSpan.FromMilliseconds(200),
        BackoffInitial = TimeSpan.FromMilliseconds(100),
        BackoffMax = TimeSpan.FromSeconds(1),
        KubeconfigPollInterval = TimeSpan.FromMilliseconds(200),
    };

    /// <summary>Starts the fake and mints tokens for <paramref name="tokenMachines"/>; the server is started by <see cref="StartServerAsync"/>.</summary>
    public static async Task<ApproverHarness> CreateAsync(params string[] tokenMachines)
    {
        var fake = await FakeKubernetesApi.StartAsync(new FakeKubernetesOptions { BookmarkInterval = TimeSpan.FromMilliseconds(200) }, Ct);
        fake.AddUser(ApproverToken, "provisioner:approver");
        fake.AddUser(AdminToken, "kubernetes-admin", "system:masters");
        var tree = new ProfileTree();
        var clusterDir = Path.Combine(tree.Root, "cluster");
        Directory.CreateDirectory(Path.Combine(clusterDir, "auth"));
        await File.WriteAllTextAsync(FakeKubeconfigPath(tree), fake.Kubeconfig(ApproverToken), Ct);

        var store = await BootstrapTokenStore.OpenAsync(Path.Combine(clusterDir, "auth", BootstrapTokenStore.FileName), TimeProvider.System, TimeSpan.FromHours(24), Ct);
        var tokens = new Dictionary<string, BootstrapToken>();
        foreach (var machine in tokenMachines) tokens[machine] = await store.GetOrMintAsync(machine, Ct);

        var admin = new Kubernetes(new KubernetesClientConfiguration { Host = fake.BaseAddress.GetLeftPart(UriPartial.Authority), AccessToken = AdminToken });
        return new ApproverHarness(fake, tree, clusterDir, admin, tokens);
    }

    public async Task<ApproverHarness> StartServerAsync(ApproverOptions? approver = null)
    {
        Server = await RunningServer.StartAsync(Tree, o => o with { ClusterDirectory = _clusterDir, Approver = WithFake(approver ?? FastOptions()) });
        return this;
    }

    /// <summary>Another Provisioner replica on the same profiles, cluster directory and API.</summary>
    public Task<RunningServer> StartReplicaAsync(ApproverOptions approver) =>
        RunningServer.StartAsync(Tree, o => o with { ClusterDirectory = _clusterDir, Approver = WithFake(approver) });

    private ApproverOptions WithFake(ApproverOptions approver) => approver with { Kubeconfig = approver.Kubeconfig ?? KubeconfigPath };

    public Kubernetes ClientFor(string token) =>
        new(new KubernetesClientConfiguration { Host = Fake.BaseAddress.GetLeftPart(UriPartial.Authority), AccessToken = token });

    /// <summary>
    /// The machine fetches its real Ignition config from the real server as a machine does (ipxe → pointer → TLS),
    /// which records the delivery; returns the config.
    /// </summary>
    public Task<string> FetchIgnitionAsync(string machine) => Server.RealConfigAsync($"mac={Macs[machine]}", Ct);

    /// <summary>A node user as the API server would authenticate a kubelet holding its client certificate.</summary>
    public string NodeToken(string node)
    {
        var token = "node-" + node;
        Fake.AddUser(token, "system:node:" + node, "system:nodes");
        return token;
    }

    public async Task WaitForTokenSecretAsync(string machine) =>
        await Eventually(() => Fake.Get("secrets", "kube-system", Tokens[machine].SecretName) is not null, $"Secret of {machine}'s bootstrap token");

    public async Task<V1CertificateSigningRequest> CreateCsrAsync(string token, string pem, string signer = CsrSigners.KubeletClient, params string[] usages)
    {
        using var client = ClientFor(token);
        return await client.CertificatesV1.CreateCertificateSigningRequestAsync(new V1CertificateSigningRequest
        {
            Metadata = new V1ObjectMeta { GenerateName = "csr-" },
            Spec = new V1CertificateSigningRequestSpec
            {
                Request = Encoding.ASCII.GetBytes(pem),
                SignerName = signer,
                Usages = usages.Length > 0 ? usages : signer == CsrSigners.KubeletServing ? ["digital signature", "server auth"] : ["digital signature", "client auth"],
            },
        }, cancellationToken: Ct);
    }

    public async Task SeedNodeAsync(string name, params string[] addresses) =>
        await Admin.CoreV1.CreateNodeAsync(new V1Node
        {
            Metadata = new V1ObjectMeta { Name = name },
            Status = new V1NodeStatus { Addresses = [.. addresses.Select(a => new V1NodeAddress { Type = "InternalIP", Address = a })] },
        }, cancellationToken: Ct);

    /// <summary>A Node registers while the approver runs; returns once the leader's Node watch has seen it.</summary>
    public async Task RegisterNodeAsync(string name, params string[] addresses)
    {
        var before = (await ApproverAsync()).GetProperty("nodes").GetInt32();
        await SeedNodeAsync(name, addresses);
        await Eventually(async () => (await ApproverAsync()).GetProperty("nodes").GetInt32() > before, $"the approver to see node {name}");
    }

    /// <summary>The approver's entry for <paramref name="csr"/> in GET /api/v1/approver, once it has one.</summary>
    public async Task<JsonElement> DecisionAsync(string csr)
    {
        JsonElement found = default;
        await Eventually(async () =>
        {
            var entry = (await RecentDecisionsAsync()).FirstOrDefault(d => d.GetProperty("csr").GetString() == csr);
            found = entry;
            return entry.ValueKind == JsonValueKind.Object;
        }, $"a decision on {csr} at /api/v1/approver");
        return found;
    }

    public async Task<IReadOnlyList<JsonElement>> RecentDecisionsAsync(RunningServer? server = null) =>
        [.. (await ApproverAsync(server)).GetProperty("recentDecisions").EnumerateArray()];

    public async Task<JsonElement> ApproverAsync(RunningServer? server = null)
    {
        using var doc = JsonDocument.Parse(await (server ?? Server).Client.GetStringAsync("/api/v1/approver", Ct));
        return doc.RootElement.Clone();
    }

    /// <summary>Renewal CSRs by node <paramref name="node"/> (which must exist as a Node), created concurrently.</summary>
    public async Task<IReadOnlyList<string>> CreateRenewalsAsync(string node, int count)
    {
        var token = NodeToken(node);
        var pem = new CsrSpec { Subject = CsrSpec.NodeSubject(node) }.Pem();
        var created = await Task.WhenAll(Enumerable.Range(0, count).Select(_ => CreateCsrAsync(token, pem)));
        return [.. created.Select(c => c.Metadata.Name)];
    }

    /// <summary>Waits until every named CSR is approved, then asserts each was approved by exactly one write.</summary>
    public async Task AssertEachApprovedOnceAsync(IReadOnlyCollection<string> names)
    {
        await Eventually(() => names.All(n => ConditionType(Csr(n)) == "Approved"), $"all {names.Count} CSRs to be approved", TimeSpan.FromSeconds(30));
        await Task.Delay(300, Ct); // let any late duplicate land before counting
        var writes = Fake.ApprovalWrites.GroupBy(w => w.CsrName).ToDictionary(g => g.Key, g => g.Count());
        foreach (var name in names) Assert.True(writes.GetValueOrDefault(name) == 1, $"{name} was written {writes.GetValueOrDefault(name)} times");
    }

    /// <summary>The value of one sample of /metrics, 0 when absent.</summary>
    public async Task<double> MetricAsync(string name, params (string Label, string Value)[] labels)
    {
        var text = await Server.Client.GetStringAsync("/metrics", Ct);
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(name, StringComparison.Ordinal) || line.StartsWith('#')) continue;
            if (labels.All(l => line.Contains($"{l.Label}=\"{l.Value}\"", StringComparison.Ordinal)) && (labels.Length > 0 || line[name.Length] == ' '))
                return double.Parse(line[(line.LastIndexOf(' ') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        }
        return 0;
    }

    public IReadOnlyList<JsonObject> EventsFor(string csr) =>
        [.. Fake.List("events", "default").Where(e => (string?)e["involvedObject"]?["name"] == csr)];

    public JsonObject Csr(string name) => Fake.Get("certificatesigningrequests", null, name)!;

    public static string? ConditionType(JsonObject csr) =>
        (csr["status"]?["conditions"] as JsonArray)?.Select(c => (string?)c!["type"]).FirstOrDefault();

    public static async Task Eventually(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        await Eventually(() => Task.FromResult(condition()), what, timeout);

    public static async Task Eventually(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(50, Ct);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (Server is not null) await Server.DisposeAsync(); // a second dispose (a test stopped it early) is harmless
        Admin.Dispose();
        await Fake.DisposeAsync();
        Tree.Dispose();
    }
}
