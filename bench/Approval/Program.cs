// Join storm: N machines fetch their Ignition, then all create their kubelet client CSR at once with their
// own bootstrap token. Measures, per CSR, the time from its creation in the API to its approval (both
// stamped by the fake API server), p50/p99/max and the storm's total; checks no CSR is approved twice and
// none is missed. The same storm is run against a blind reference approver (watch + approve everything,
// no checks), side by side, to show what the policy and inventory cost.
//
// As in a real cluster, the API server and the joining kubelets are not in the approver's process: this
// program starts itself again with --cluster (the fake API server plus the storm's clients) and drives that
// child over stdin/stdout; the approvers under test run here.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
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
using Provisioner.Hosting;
using Provisioner.Tokens;

if (args is ["--cluster", var kubeconfigPath]) return await ClusterProcess.ServeAsync(kubeconfigPath);

var machines = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1000;
// Before the storm, a few machines join one wave earlier (as control-plane machines do before the workers), so
// neither process meets the storm with code the JIT has not optimised yet.
const int WarmUp = 64;
var targetP99 = TimeSpan.FromMilliseconds(200);
using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(10));
var ct = stop.Token;

var repo = FindRepo();
var root = Directory.CreateTempSubdirectory("bench-approval-").FullName;
try
{
    Console.WriteLine($"Preparing {machines} machines in {root} …");
    var (profiles, templates, assets, clusterDir) = await WriteProfilesAsync(repo, root, WarmUp + machines, ct);
    var names = Enumerable.Range(0, WarmUp + machines).Select(MachineName).ToArray();
    var requests = names.ToDictionary(n => n, CsrPem);

    var provisioner = await RunProvisionerAsync(root, profiles, templates, assets, clusterDir, names, requests, ct);
    var reference = await RunBlindReferenceAsync(root, names, requests, ct);

    Console.WriteLine();
    Console.WriteLine($"{machines} machines join at once, after {WarmUp} joined (CSRs created concurrently against the fake API; creation → approval)");
    Console.WriteLine($"{"approver",-34} {"p50 ms",8} {"p99 ms",8} {"max ms",8} {"total s",8} {"created s",10} {"approved",9} {"twice",6} {"missed",7} {"cpu s: cluster",15} {"approver",9}");
    foreach (var r in new[] { provisioner, reference })
        Console.WriteLine($"{r.Name,-34} {r.P50,8:0.0} {r.P99,8:0.0} {r.Max,8:0.0} {r.Total,8:0.00} {r.CreatedSpan,10:0.00} {r.Approved,9} {r.Twice,6} {r.Missed,7} {r.ClusterCpu,15:0.00} {r.ApproverCpu,9:0.00}");
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

static async Task<Result> RunProvisionerAsync(string root, string profiles, string templates, string assets, string clusterDir,
    string[] names, Dictionary<string, string> requests, CancellationToken ct)
{
    // Given explicitly: serve renders auth/ for the profiles' real API endpoint, not for the fake.
    var kubeconfig = Path.Combine(root, "fake-api.kubeconfig");
    await using var cluster = await ClusterProcess.StartAsync(kubeconfig, ct);
    var store = await BootstrapTokenStore.OpenAsync(Path.Combine(clusterDir, "auth", BootstrapTokenStore.FileName), TimeProvider.System, TimeSpan.FromHours(24), ct);
    var tokens = await store.GetOrMintAsync(names, ct);

    var options = new ServerOptions
    {
        ProfilesDirectory = profiles, TemplatesDirectory = templates, AssetsDirectory = assets, ClusterDirectory = clusterDir,
        Listen = [new ListenAddress(IPAddress.Loopback, 0)], MinimumLogLevel = Serilog.Events.LogEventLevel.Error,
        Approver = new ApproverOptions { Kubeconfig = kubeconfig, Identity = "bench", RetryPeriod = TimeSpan.FromMilliseconds(200) },
    };
    await using var server = ProvisionerServer.Build(options);
    await server.StartAsync(ct);

    Console.WriteLine("  waiting for the approver to create the bootstrap token Secrets …");
    await WaitAsync(async () => int.Parse(await cluster.AskAsync("secrets kube-system", ct), CultureInfo.InvariantCulture) >= names.Length, TimeSpan.FromMinutes(2), ct);
    Console.WriteLine("  every machine fetches its Ignition (its /ipxe ticket, the pointer, then the real config over TLS) …");
    // The approver's evidence is the real config's release over TLS, as a machine gets it: a ticket from /ipxe, the
    // installer's plain pointer fetch, then the TLS fetch pinned to the Provisioner CA.
    var ca = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(clusterDir, "tls", "provisioner-ca.crt"), ct));
    using (var http = new HttpClient { BaseAddress = server.BaseAddress })
    using (var tls = new HttpClient(new HttpClientHandler
    {
        ServerCertificateCustomValidationCallback = (_, certificate, _, _) =>
        {
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return certificate is not null && chain.Build(certificate);
        },
    }) { BaseAddress = server.TlsBaseAddress })
        await Parallel.ForEachAsync(Enumerable.Range(0, names.Length), new ParallelOptions { MaxDegreeOfParallelism = 16, CancellationToken = ct },
            async (i, token) =>
            {
                var selector = $"mac=52-54-01-00-{i / 256:x2}-{i % 256:x2}";
                var script = await http.GetStringAsync($"/ipxe?{selector}", token);
                var ticket = Regex.Match(script, "ticket=([A-Za-z0-9_-]+)").Groups[1].Value;
                (await http.GetAsync($"/ignition?{selector}&ticket={ticket}", token)).EnsureSuccessStatusCode();
                (await tls.GetAsync($"/ignition?{selector}&ticket={ticket}", token)).EnsureSuccessStatusCode();
            });
    // Let the approver settle (Events of the Secrets' creation, token syncs) so the storm starts from quiet.
    await Task.Delay(TimeSpan.FromSeconds(1), ct);

    Console.WriteLine("  join storm …");
    return await StormAndMeasureAsync(cluster, root, "provisioner approver (policy)", names, n => tokens[n].Value, requests, ct);
}

/// <summary>The reference: approve every pending CSR as soon as it is seen, no checks (what blind loops do).</summary>
static async Task<Result> RunBlindReferenceAsync(string root, string[] names, Dictionary<string, string> requests, CancellationToken ct)
{
    var kubeconfig = Path.Combine(root, "fake-api-reference.kubeconfig");
    await using var cluster = await ClusterProcess.StartAsync(kubeconfig, ct);
    var users = Path.Combine(root, "node-users.tsv");
    await File.WriteAllLinesAsync(users, names.Select(n => $"tok-{n}\t{n}"), ct);
    await cluster.AskAsync($"node-users {users}", ct);
    using var client = new Kubernetes(KubernetesClientConfiguration.BuildConfigFromConfigFile(kubeconfig));
    using var blindStop = CancellationTokenSource.CreateLinkedTokenSource(ct);
    var blind = Task.Run(async () =>
    {
        var list = await client.CertificatesV1.ListCertificateSigningRequestAsync(cancellationToken: blindStop.Token);
        var queue = System.Threading.Channels.Channel.CreateUnbounded<V1CertificateSigningRequest>();
        var approving = Parallel.ForEachAsync(queue.Reader.ReadAllAsync(blindStop.Token), new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = blindStop.Token },
            async (csr, token) =>
            {
                csr.Status = new V1CertificateSigningRequestStatus { Conditions = [new() { Type = "Approved", Status = "True", Reason = "Blind", LastUpdateTime = DateTime.UtcNow }] };
                await client.CertificatesV1.ReplaceCertificateSigningRequestApprovalAsync(csr, csr.Metadata.Name, cancellationToken: token);
            });
        await foreach (var (type, csr) in client.CertificatesV1.WatchListCertificateSigningRequestAsync(resourceVersion: list.Metadata.ResourceVersion, cancellationToken: blindStop.Token))
            if (type == WatchEventType.Added) queue.Writer.TryWrite(csr);
        await approving;
    }, blindStop.Token);
    await WaitAsync(async () => await cluster.AskAsync("watches", ct) != "0", TimeSpan.FromSeconds(30), ct);

    Console.WriteLine("  join storm against the blind reference …");
    var result = await StormAndMeasureAsync(cluster, root, "blind approver (reference)", names, n => "tok-" + n, requests, ct);
    await blindStop.CancelAsync();
    try { await blind; } catch (Exception) { /* stopped */ }
    return result;
}

/// <summary>The first <c>WarmUp</c> machines join, things settle, then all the others join at once and are measured.</summary>
static async Task<Result> StormAndMeasureAsync(ClusterProcess cluster, string root, string name, string[] names, Func<string, string> token,
    Dictionary<string, string> requests, CancellationToken ct)
{
    async Task<string> WriteStormAsync(IEnumerable<string> machines)
    {
        var file = Path.Combine(root, $"storm-{Guid.NewGuid():N}.tsv");
        await File.WriteAllLinesAsync(file, machines.Select(n => $"{token(n)}\t{Convert.ToBase64String(Encoding.ASCII.GetBytes(requests[n]))}"), ct);
        return file;
    }
    await cluster.AskAsync($"storm {await WriteStormAsync(names[..WarmUp])}", ct);
    // Events, token revocations and the JIT's optimised code for what just ran.
    await Task.Delay(TimeSpan.FromSeconds(3), ct);

    if (Environment.GetEnvironmentVariable("BENCH_PAUSE_BEFORE_STORM") is { } pause)
    {
        // Time to attach a profiler (dotnet-trace collect -p PID) to exactly the storm.
        Console.WriteLine($"  pid {Environment.ProcessId}: storm in {pause} s");
        await Task.Delay(TimeSpan.FromSeconds(double.Parse(pause, CultureInfo.InvariantCulture)), ct);
    }
    var storm = await WriteStormAsync(names[WarmUp..]);
    var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
    await cluster.AskAsync($"storm {storm}", ct);
    var approverCpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds;
    var answer = await cluster.AskAsync("result", ct);
    return JsonSerializer.Deserialize<Result>(answer, ClusterProcess.Json)! with { Name = name, ApproverCpu = approverCpu };
}

static async Task WaitAsync(Func<Task<bool>> condition, TimeSpan timeout, CancellationToken ct)
{
    var deadline = Stopwatch.GetTimestamp() + (long)(timeout.TotalSeconds * Stopwatch.Frequency);
    while (!await condition())
    {
        if (Stopwatch.GetTimestamp() > deadline) throw new TimeoutException();
        await Task.Delay(20, ct);
    }
}

/// <param name="ClusterCpu">CPU seconds the cluster process (fake API + kubelets) used from the storm's start until every CSR was approved.</param>
/// <param name="ApproverCpu">CPU seconds this process (the approver under test) used over the same time.</param>
internal sealed record Result(string Name, double P50, double P99, double Max, double Total, double CreatedSpan, int Approved, int Twice, int Missed,
    double ClusterCpu, double ApproverCpu);

internal static class SharedKey
{
    public static Org.BouncyCastle.Crypto.AsymmetricCipherKeyPair? Value;
}
