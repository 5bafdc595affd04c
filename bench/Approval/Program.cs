// Join storm: N machines fetch their Ignition, then all create their kubelet client CSR at once with their
// own bootstrap token. Measures, per CSR, the time from its creation in the API to its approval (both
// stamped by the fake API server), p50/p99/max and the storm's total; checks no CSR is approved twice and
// none is missed. The same storm is run against a blind reference approver (watch + approve everything,
// no checks, same parallelism), side by side, to show what the policy and inventory cost.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using k8s;
using k8s.Models;
using Org.BouncyCastle.Asn1.Sec;
using Org.BouncyCastle.Asn1.X509;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Operators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;
using Provisioner.Approval;
using Provisioner.FakeKubernetes;
using Provisioner.Hosting;
using Provisioner.Tokens;

var machines = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1000;
var targetP99 = TimeSpan.FromMilliseconds(200);
using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(10));
var ct = stop.Token;

var repo = FindRepo();
var root = Directory.CreateTempSubdirectory("bench-approval-").FullName;
try
{
    Console.WriteLine($"Preparing {machines} machines in {root} …");
    var (profiles, templates, assets, clusterDir) = await WriteProfilesAsync(repo, root, machines, ct);
    var names = Enumerable.Range(0, machines).Select(MachineName).ToArray();
    var requests = names.ToDictionary(n => n, CsrPem);

    var provisioner = await RunProvisionerAsync(profiles, templates, assets, clusterDir, names, requests, ct);
    var reference = await RunBlindReferenceAsync(names, requests, ct);

    Console.WriteLine();
    Console.WriteLine($"{machines} machines join at once (CSRs created concurrently against the fake API; creation → approval)");
    Console.WriteLine($"{"approver",-34} {"p50 ms",8} {"p99 ms",8} {"max ms",8} {"total s",8} {"created s",10} {"approved",9} {"twice",6} {"missed",7}");
    foreach (var r in new[] { provisioner, reference })
        Console.WriteLine($"{r.Name,-34} {r.P50,8:0.0} {r.P99,8:0.0} {r.Max,8:0.0} {r.Total,8:0.00} {r.CreatedSpan,10:0.00} {r.Approved,9} {r.Twice,6} {r.Missed,7}");
    var ok = provisioner.Twice == 0 && provisioner.Missed == 0;
    Console.WriteLine($"target p99 < {targetP99.TotalMilliseconds:0} ms: {(provisioner.P99 < targetP99.TotalMilliseconds ? "met" : "NOT met")}; " +
                      $"no CSR approved twice, none missed: {(ok ? "yes" : "NO")}");
    return ok ? 0 : 1;
}
finally
{
    Directory.Delete(root, recursive: true);
}

static string MachineName(int i) => $"node-{i:0000}";

static string FindRepo()
{
    var dir = new DirectoryInfo(AppContext.BaseDirectory);
    while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Provisioner.sln"))) dir = dir.Parent;
    return dir?.FullName ?? throw new InvalidOperationException("run from inside the repository");
}

static async Task<(string, string, string, string)> WriteProfilesAsync(string repo, string root, int count, CancellationToken ct)
{
    var profiles = Path.Combine(root, "profiles");
    var templates = Path.Combine(root, "ignition-templates");
    var assets = Path.Combine(root, "assets");
    var clusterDir = Path.Combine(root, "cluster");
    Copy(Path.Combine(repo, "profiles"), profiles);
    Copy(Path.Combine(repo, "ignition-templates"), templates);
    Directory.CreateDirectory(assets);
    Directory.CreateDirectory(Path.Combine(clusterDir, "auth"));
    var yaml = new StringBuilder("machines:\n");
    for (var i = 0; i < count; i++)
        yaml.Append($"  - name: {MachineName(i)}\n    role: worker\n    select:\n      mac: 52:54:01:00:{i / 256:x2}:{i % 256:x2}\n    network:\n      dhcp: true\n    installDisk: /dev/vda\n");
    await File.WriteAllTextAsync(Path.Combine(profiles, "machines.yaml"), yaml.ToString(), ct);
    return (profiles, templates, assets, clusterDir);

    static void Copy(string from, string to)
    {
        foreach (var file in Directory.EnumerateFiles(from, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(to, Path.GetRelativePath(from, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(file, target);
        }
    }
}

// One P-256 key for all: key generation is the kubelet's cost, not the approver's.
static string CsrPem(string node)
{
    var generator = new ECKeyPairGenerator();
    generator.Init(new ECKeyGenerationParameters(SecObjectIdentifiers.SecP256r1, new SecureRandom()));
    var key = SharedKey.Value ??= generator.GenerateKeyPair();
    var subject = new X509Name([X509Name.O, X509Name.CN], ["system:nodes", $"system:node:{node}"]);
    var request = new Pkcs10CertificationRequest(new Asn1SignatureFactory("SHA256WITHECDSA", key.Private), subject, key.Public, null);
    return $"-----BEGIN CERTIFICATE REQUEST-----\n{Convert.ToBase64String(request.GetEncoded(), Base64FormattingOptions.InsertLineBreaks)}\n-----END CERTIFICATE REQUEST-----\n";
}

static async Task<Result> RunProvisionerAsync(string profiles, string templates, string assets, string clusterDir,
    string[] names, Dictionary<string, string> requests, CancellationToken ct)
{
    await using var fake = await FakeKubernetesApi.StartAsync(new FakeKubernetesOptions(), ct);
    fake.AddUser("approver", "provisioner:approver");
    // Given explicitly: serve renders auth/ for the profiles' real API endpoint, not for the fake.
    var kubeconfig = Path.Combine(Path.GetDirectoryName(clusterDir)!, "fake-api.kubeconfig");
    await File.WriteAllTextAsync(kubeconfig, fake.Kubeconfig("approver"), ct);
    var store = await BootstrapTokenStore.OpenAsync(Path.Combine(clusterDir, "auth", BootstrapTokenStore.FileName), TimeProvider.System, TimeSpan.FromHours(24), ct);
    var tokens = new Dictionary<string, BootstrapToken>();
    foreach (var name in names) tokens[name] = await store.GetOrMintAsync(name, ct);

    var options = new ServerOptions
    {
        ProfilesDirectory = profiles, TemplatesDirectory = templates, AssetsDirectory = assets, ClusterDirectory = clusterDir,
        Listen = [new ListenAddress(IPAddress.Loopback, 0)], MinimumLogLevel = Serilog.Events.LogEventLevel.Error,
        Approver = new ApproverOptions { Kubeconfig = kubeconfig, Identity = "bench", RetryPeriod = TimeSpan.FromMilliseconds(200) },
    };
    await using var server = ProvisionerServer.Build(options);
    await server.StartAsync(ct);

    Console.WriteLine("  waiting for the approver to create the bootstrap token Secrets …");
    await WaitAsync(() => fake.List("secrets", "kube-system").Count >= names.Length, TimeSpan.FromMinutes(2), ct);
    Console.WriteLine("  every machine fetches its Ignition …");
    using (var http = new HttpClient { BaseAddress = server.BaseAddress })
        await Parallel.ForEachAsync(Enumerable.Range(0, names.Length), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct },
            async (i, token) => (await http.GetAsync($"/ignition?mac=52:54:01:00:{i / 256:x2}:{i % 256:x2}", token)).EnsureSuccessStatusCode());

    Console.WriteLine("  join storm …");
    await StormAsync(fake, names, n => tokens[n].Value, requests, ct);
    return await MeasureAsync("provisioner approver (policy)", fake, names.Length, ct);
}

/// <summary>The reference: approve every pending CSR as soon as it is seen, no checks (what blind loops do).</summary>
static async Task<Result> RunBlindReferenceAsync(string[] names, Dictionary<string, string> requests, CancellationToken ct)
{
    await using var fake = await FakeKubernetesApi.StartAsync(new FakeKubernetesOptions(), ct);
    fake.AddUser("approver", "provisioner:approver");
    foreach (var name in names) fake.AddUser("tok-" + name, "system:node:" + name, "system:nodes");
    using var client = new Kubernetes(new KubernetesClientConfiguration { Host = fake.BaseAddress.GetLeftPart(UriPartial.Authority), AccessToken = "approver" });
    using var blindStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
    var blind = Task.Run(async () =>
    {
        var list = await client.CertificatesV1.ListCertificateSigningRequestAsync(cancellationToken: blindStop.Token);
        var queue = System.Threading.Channels.Channel.CreateUnbounded<V1CertificateSigningRequest>();
        var approving = Parallel.ForEachAsync(queue.Reader.ReadAllAsync(blindStop.Token), new ParallelOptions { MaxDegreeOfParallelism = 8, CancellationToken = blindStop.Token },
            async (csr, token) =>
            {
                csr.Status = new V1CertificateSigningRequestStatus { Conditions = [new() { Type = "Approved", Status = "True", Reason = "Blind", LastUpdateTime = DateTime.UtcNow }] };
                await client.CertificatesV1.ReplaceCertificateSigningRequestApprovalAsync(csr, csr.Metadata.Name, cancellationToken: token);
            });
        await foreach (var (type, csr) in client.CertificatesV1.WatchListCertificateSigningRequestAsync(resourceVersion: list.Metadata.ResourceVersion, cancellationToken: blindStop.Token))
            if (type == WatchEventType.Added) queue.Writer.TryWrite(csr);
        await approving;
    }, blindStop.Token);
    await WaitAsync(() => fake.OpenWatches > 0, TimeSpan.FromSeconds(30), ct);

    Console.WriteLine("  join storm against the blind reference …");
    await StormAsync(fake, names, n => "tok-" + n, requests, ct);
    var result = await MeasureAsync("blind approver (reference)", fake, names.Length, ct);
    await blindStop.CancelAsync();
    try { await blind; } catch (Exception) { /* stopped */ }
    return result;
}

static async Task StormAsync(FakeKubernetesApi fake, string[] names, Func<string, string> token, Dictionary<string, string> requests, CancellationToken ct)
{
    using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = fake.BaseAddress };
    await Task.WhenAll(names.Select(async name =>
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/apis/certificates.k8s.io/v1/certificatesigningrequests");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token(name));
        request.Content = new StringContent(new JsonObject
        {
            ["apiVersion"] = "certificates.k8s.io/v1", ["kind"] = "CertificateSigningRequest",
            ["metadata"] = new JsonObject { ["generateName"] = "csr-" },
            ["spec"] = new JsonObject
            {
                ["request"] = Convert.ToBase64String(Encoding.ASCII.GetBytes(requests[name])),
                ["signerName"] = "kubernetes.io/kube-apiserver-client-kubelet",
                ["usages"] = new JsonArray("digital signature", "client auth"),
            },
        }.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request, ct);
        if (response.StatusCode != HttpStatusCode.Created)
            throw new InvalidOperationException($"creating the CSR of {name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync(ct)}");
    }));
}

static async Task<Result> MeasureAsync(string name, FakeKubernetesApi fake, int expected, CancellationToken ct)
{
    try { await WaitAsync(() => fake.ApprovalWrites.Select(w => w.CsrName).Distinct().Count() >= expected, TimeSpan.FromMinutes(2), ct); }
    catch (TimeoutException) { Console.WriteLine($"  {name}: not all CSRs approved within 2 minutes"); }
    await Task.Delay(500, ct); // late duplicates would land here
    var created = fake.CsrCreationTimestamps;
    var writes = fake.ApprovalWrites.Where(w => w.ConditionTypes.Contains("Approved")).GroupBy(w => w.CsrName).ToDictionary(g => g.Key, g => g.ToList());
    var latencies = writes.Where(w => created.ContainsKey(w.Key))
        .Select(w => Stopwatch.GetElapsedTime(created[w.Key], w.Value.Min(x => x.Timestamp)).TotalMilliseconds).Order().ToArray();
    double Percentile(double p) => latencies.Length == 0 ? double.NaN : latencies[Math.Min(latencies.Length - 1, (int)Math.Ceiling(p * latencies.Length) - 1)];
    var total = writes.Count == 0 ? double.NaN : Stopwatch.GetElapsedTime(created.Values.Min(), writes.Values.Max(w => w.Max(x => x.Timestamp))).TotalSeconds;
    var createdSpan = created.Count == 0 ? double.NaN : Stopwatch.GetElapsedTime(created.Values.Min(), created.Values.Max()).TotalSeconds;
    return new Result(name, Percentile(0.50), Percentile(0.99), latencies.LastOrDefault(), total, createdSpan,
        writes.Count, writes.Count(w => w.Value.Count > 1), created.Keys.Count(k => !writes.ContainsKey(k)));
}

static async Task WaitAsync(Func<bool> condition, TimeSpan timeout, CancellationToken ct)
{
    var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
    while (!condition())
    {
        if (Stopwatch.GetTimestamp() > deadline) throw new TimeoutException();
        await Task.Delay(20, ct);
    }
}

internal sealed record Result(string Name, double P50, double P99, double Max, double Total, double CreatedSpan, int Approved, int Twice, int Missed);

internal static class SharedKey
{
    public static Org.BouncyCastle.Crypto.AsymmetricCipherKeyPair? Value;
}
