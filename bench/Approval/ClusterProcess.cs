// The cluster side of the join storm, in its own process as in a real cluster: the fake API server and the
// thousand kubelets creating their CSRs. The bench (parent) starts this program again with
// `--cluster KUBECONFIG` and asks it, one line per question on stdin, one line per answer on stdout:
//   secrets NAMESPACE        → how many Secrets exist there
//   watches                  → how many watches are open
//   node-users FILE          → registers "token<TAB>node" lines as node identities; answers "ok"
//   storm FILE               → every "token<TAB>base64(PEM)" line creates its CSR at once; answers "done" when all
//                              of them are approved (or after 2 minutes)
//   result                   → the last storm's Result as JSON (after 0.5 s more, for late duplicate approvals)
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Provisioner.FakeKubernetes;

internal sealed class ClusterProcess : IAsyncDisposable
{
    /// <summary>Results cross the process boundary as JSON; a run with no approvals has NaN percentiles.</summary>
    public static readonly JsonSerializerOptions Json = new() { NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals };

    private readonly Process _process;
    private readonly SemaphoreSlim _gate = new(1, 1);

    private ClusterProcess(Process process) => _process = process;

    /// <summary>Starts the child; returns once its fake API answers and <paramref name="kubeconfig"/> is written.</summary>
    public static async Task<ClusterProcess> StartAsync(string kubeconfig, CancellationToken ct)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { typeof(ClusterProcess).Assembly.Location, "--cluster", kubeconfig }) start.ArgumentList.Add(arg);
        var child = new ClusterProcess(Process.Start(start) ?? throw new InvalidOperationException("could not start the cluster process"));
        if (await child.ReadLineAsync(ct) != "ready") throw new InvalidOperationException("the cluster process did not start");
        return child;
    }

    public async Task<string> AskAsync(string question, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try
        {
            await _process.StandardInput.WriteLineAsync(question.AsMemory(), ct);
            await _process.StandardInput.FlushAsync(ct);
            var answer = await ReadLineAsync(ct);
            return answer.StartsWith("error: ", StringComparison.Ordinal)
                ? throw new InvalidOperationException($"cluster process, '{question}': {answer}")
                : answer;
        }
        finally { _gate.Release(); }
    }

    private async Task<string> ReadLineAsync(CancellationToken ct) =>
        await _process.StandardOutput.ReadLineAsync(ct) ?? throw new InvalidOperationException("the cluster process exited");

    public async ValueTask DisposeAsync()
    {
        try { _process.StandardInput.Close(); } catch (IOException) { }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try { await _process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
        _process.Dispose();
    }

    // ------------------------------------------------------------ the child

    public static async Task<int> ServeAsync(string kubeconfigPath)
    {
        await using var fake = await FakeKubernetesApi.StartAsync(new FakeKubernetesOptions());
        fake.AddUser("approver", "provisioner:approver");
        await File.WriteAllTextAsync(kubeconfigPath, fake.Kubeconfig("approver"));
        Console.WriteLine("ready");
        while (Console.ReadLine() is { } line)
        {
            string answer;
            try
            {
                answer = line.Split(' ') switch
                {
                    ["secrets", var ns] => fake.List("secrets", ns).Count.ToString(CultureInfo.InvariantCulture),
                    ["watches"] => fake.OpenWatches.ToString(CultureInfo.InvariantCulture),
                    ["node-users", var file] => AddNodeUsers(fake, file),
                    ["storm", var file] => await StormAsync(fake, file),
                    ["result"] => await ResultAsync(fake),
                    _ => throw new InvalidOperationException($"unknown question: {line}"),
                };
            }
            catch (Exception e)
            {
                answer = "error: " + e.Message.ReplaceLineEndings(" ");
            }
            Console.WriteLine(answer);
        }
        return 0;
    }

    private static string AddNodeUsers(FakeKubernetesApi fake, string file)
    {
        foreach (var line in File.ReadLines(file))
        {
            var (token, node) = line.Split('\t') is [var t, var n] ? (t, n) : throw new InvalidDataException(line);
            fake.AddUser(token, "system:node:" + node, "system:nodes");
        }
        return "ok";
    }

    /// <summary>CSRs of the last storm by name, for <c>result</c>.</summary>
    private static IReadOnlyList<string> _lastStorm = [];
    private static TimeSpan _stormCpu;

    /// <summary>Creates every CSR at once and answers when all of them are approved (or after 2 minutes).</summary>
    private static async Task<string> StormAsync(FakeKubernetesApi fake, string file)
    {
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        var requests = File.ReadLines(file).Select(l => l.Split('\t') is [var token, var pem] ? (Token: token, Pem: pem) : throw new InvalidDataException(l)).ToList();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = 256 }) { BaseAddress = fake.BaseAddress };
        var names = await Task.WhenAll(requests.Select(async r =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/apis/certificates.k8s.io/v1/certificatesigningrequests");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", r.Token);
            request.Content = new StringContent(new JsonObject
            {
                ["apiVersion"] = "certificates.k8s.io/v1", ["kind"] = "CertificateSigningRequest",
                ["metadata"] = new JsonObject { ["generateName"] = "csr-" },
                ["spec"] = new JsonObject
                {
                    ["request"] = r.Pem,
                    ["signerName"] = "kubernetes.io/kube-apiserver-client-kubelet",
                    ["usages"] = new JsonArray("digital signature", "client auth"),
                },
            }.ToJsonString(), Encoding.UTF8, "application/json");
            using var response = await http.SendAsync(request);
            var body = await response.Content.ReadAsStringAsync();
            if (response.StatusCode != HttpStatusCode.Created)
                throw new InvalidOperationException($"creating a CSR: {(int)response.StatusCode} {body}");
            return (string)JsonNode.Parse(body)!["metadata"]!["name"]!;
        }));
        _lastStorm = names;
        var deadline = Stopwatch.GetTimestamp() + 120 * Stopwatch.Frequency;
        bool AllApproved()
        {
            var approved = fake.ApprovalWrites.Select(w => w.CsrName).ToHashSet(StringComparer.Ordinal);
            return names.All(approved.Contains);
        }
        while (Stopwatch.GetTimestamp() < deadline && !AllApproved())
            await Task.Delay(10);
        _stormCpu = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        return "done";
    }

    /// <summary>The last storm's numbers, after a pause in which a late duplicate approval would land.</summary>
    private static async Task<string> ResultAsync(FakeKubernetesApi fake)
    {
        await Task.Delay(500);
        var storm = _lastStorm.ToHashSet();
        var created = fake.CsrCreationTimestamps.Where(c => storm.Contains(c.Key)).ToDictionary();
        var writes = fake.ApprovalWrites.Where(w => storm.Contains(w.CsrName) && w.ConditionTypes.Contains("Approved"))
            .GroupBy(w => w.CsrName).ToDictionary(g => g.Key, g => g.ToList());
        var latencies = writes.Select(w => Stopwatch.GetElapsedTime(created[w.Key], w.Value.Min(x => x.Timestamp)).TotalMilliseconds).Order().ToArray();
        double Percentile(double p) => latencies.Length == 0 ? double.NaN : latencies[Math.Min(latencies.Length - 1, (int)Math.Ceiling(p * latencies.Length) - 1)];
        var total = writes.Count == 0 ? double.NaN : Stopwatch.GetElapsedTime(created.Values.Min(), writes.Values.Max(w => w.Min(x => x.Timestamp))).TotalSeconds;
        var createdSpan = created.Count == 0 ? double.NaN : Stopwatch.GetElapsedTime(created.Values.Min(), created.Values.Max()).TotalSeconds;
        return JsonSerializer.Serialize(new Result("", Percentile(0.50), Percentile(0.99), latencies.LastOrDefault(), total, createdSpan,
            writes.Count, writes.Count(w => w.Value.Count > 1), created.Keys.Count(k => !writes.ContainsKey(k)), _stormCpu.TotalSeconds, 0), Json);
    }
}
