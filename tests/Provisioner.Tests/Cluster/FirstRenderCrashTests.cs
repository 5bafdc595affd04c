using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Provisioner.Primitives;
using Provisioner.Tests.Pki;
using Provisioner.Tests.Pxe.Netns;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Cluster;

/// <summary>
/// kill -9 at every file replacement of a first <c>provisioner render</c> (the real program, killed by the test hook
/// in <see cref="CrashInjection"/>), then the next render, or <c>serve</c>, starts and leaves a consistent cluster
/// directory: each CA's key belongs to its certificate and every leaf verifies against its CA with openssl.
/// </summary>
[Trait(Category.Name, Category.Integration)]
[Trait(Category.Name, Category.Slow)]
public sealed partial class FirstRenderCrashTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_first_render_killed_after_any_file_replacement_is_finished_by_the_next_render()
    {
        using var tree = new ProfileTree();
        var replacements = await CountReplacementsOfFirstRenderAsync(tree);

        for (var n = 1; n <= replacements.Count; n++)
        {
            var clusterDir = Path.Combine(tree.Root, $"cluster-{n}");
            await CrashFirstRenderAsync(tree, clusterDir, n, replacements);

            var next = await CliRun.RunAsync(["render", "--profiles", tree.Profiles, "--templates", tree.Templates, "--out", clusterDir]);
            Assert.True(next.Exit == 0, $"render after a crash following replacement {n} ({replacements[n - 1]}) failed:\n{next.Err}\n{next.Out}");
            await AssertConsistentAsync(clusterDir, $"after a crash following replacement {n} ({replacements[n - 1]})");
            var again = await CliRun.RunAsync(["render", "--profiles", tree.Profiles, "--templates", tree.Templates, "--out", clusterDir]);
            Assert.Contains(" 0 written, ", again.Out);
            Assert.Contains(" 0 key pair(s) created, 0 re-issued", again.Out);
            Directory.Delete(clusterDir, recursive: true);
        }
    }

    [Fact]
    public async Task Serve_starts_on_a_cluster_directory_whose_first_render_was_killed()
    {
        using var tree = new ProfileTree();
        var replacements = await CountReplacementsOfFirstRenderAsync(tree);
        // Right after the CA's journal, after the CA key, midway, and after the last replacement.
        int[] sample = [1, 2, replacements.Count / 2, replacements.Count];

        foreach (var n in sample.Distinct())
        {
            var clusterDir = Path.Combine(tree.Root, $"cluster-{n}");
            await CrashFirstRenderAsync(tree, clusterDir, n, replacements);
            await using (var serve = StartServe(tree, clusterDir, []))
                await AssertServesAsync(serve, $"serve after a render crash following replacement {n} ({replacements[n - 1]})");
            await AssertConsistentAsync(clusterDir, $"serve after a render crash following replacement {n} ({replacements[n - 1]})");
        }
    }

    /// <summary>
    /// Serve's first start writes more than a render: the Provisioner CA and serving certificate of the TLS listener,
    /// the operator token, the machine state. Killed after each of those replacements (and after the last render
    /// replacement), the next start works.
    /// </summary>
    [Fact]
    public async Task Serve_killed_after_any_file_replacement_of_its_own_first_start_starts_again()
    {
        using var tree = new ProfileTree();
        var rendered = (await CountReplacementsOfFirstRenderAsync(tree)).ToHashSet(StringComparer.Ordinal);
        var probeDir = Path.Combine(tree.Root, "serve-probe");
        var probeLog = Path.Combine(tree.Root, "serve-probe.log");
        await using (var probe = StartServe(tree, probeDir, new() { [CrashInjection.LogVariable] = probeLog }))
            await AssertServesAsync(probe, "an uninterrupted first start");
        var replacements = File.ReadAllLines(probeLog).Select(l => Path.GetRelativePath(probeDir, l)).ToList();
        Assert.Contains("tls/provisioner-ca.key", replacements);
        Assert.Contains("tls/provisioner-serving.crt", replacements);
        var serveOnly = Enumerable.Range(1, replacements.Count)
            .Where(n => !rendered.Contains(replacements[n - 1]) || n == replacements.Count).ToList();
        Assert.NotEmpty(serveOnly);

        foreach (var n in serveOnly)
        {
            var clusterDir = Path.Combine(tree.Root, $"serve-{n}");
            var when = $"serve after its first start was killed following replacement {n} ({replacements[n - 1]})";
            await using (var crashing = StartServe(tree, clusterDir, new()
                         {
                             [CrashInjection.LogVariable] = Path.Combine(tree.Root, $"serve-crash-{n}.log"),
                             [CrashInjection.CrashAfterVariable] = n.ToString(System.Globalization.CultureInfo.InvariantCulture),
                         }))
            {
                // Some replacements happen only on a request (an install-mode machine's pointer fetch records it as
                // installing): ask what the probe asked once the server is up, unless it was killed before that.
                var exited = crashing.Process.WaitForExitAsync(TimeSpan.FromSeconds(120), Ct);
                var started = crashing.Process.WaitForLineAsync(l => l.Contains("Application started"), TimeSpan.FromSeconds(90), Ct);
                if (await Task.WhenAny(exited, started) == started && started.IsCompletedSuccessfully)
                {
                    using var http = new HttpClient();
                    try { (await http.GetAsync($"http://127.0.0.1:{crashing.Port}/ignition?mac=52-54-00-00-30-01", Ct)).Dispose(); }
                    catch (HttpRequestException) { } // killed while answering: that is the crash asked for
                }
                _ = started.ContinueWith(t => t.Exception, TaskScheduler.Default); // a start line that never comes is not the failure
                Assert.True(await exited == 128 + 9, $"{when}: not killed\n{crashing.Process.Tail()}");
            }
            await using (var serve = StartServe(tree, clusterDir, []))
                await AssertServesAsync(serve, when);
            await AssertConsistentAsync(clusterDir, when);
            Directory.Delete(clusterDir, recursive: true);
        }
    }

    private sealed record Serve(BackgroundProcess Process, int Port) : IAsyncDisposable
    {
        public ValueTask DisposeAsync() => Process.DisposeAsync();
    }

    private static Serve StartServe(ProfileTree tree, string clusterDir, Dictionary<string, string> environment)
    {
        var port = FreePort.Tcp();
        var tlsPort = FreePort.Tcp();
        return new Serve(BackgroundProcess.Start(Dotnet, [ProvisionerDll, "serve", "--profiles", tree.Profiles, "--templates", tree.Templates,
            "--assets", tree.Assets, "--cluster-dir", clusterDir, "--listen", $"127.0.0.1:{port}", "--listen-tls", $"127.0.0.1:{tlsPort}",
            "--no-approver"], environment), port);
    }

    /// <summary>Serve came up and answers a machine's plain Ignition request (the pointer, pinning the Provisioner CA).</summary>
    private static async Task AssertServesAsync(Serve serve, string when)
    {
        await serve.Process.WaitForLineAsync(l => l.Contains("Application started"), TimeSpan.FromSeconds(90), Ct);
        using var http = new HttpClient();
        var ignition = await http.GetAsync($"http://127.0.0.1:{serve.Port}/ignition?mac=52-54-00-00-30-01", Ct);
        Assert.True(ignition.IsSuccessStatusCode, $"{when}: /ignition {(int)ignition.StatusCode}\n{serve.Process.Tail()}");
    }

    private static string Dotnet =>
        Environment.ProcessPath is { } p && Path.GetFileNameWithoutExtension(p) == "dotnet" ? p : Requires.Program("dotnet", "dotnet-sdk");

    private static string ProvisionerDll => Path.Combine(AppContext.BaseDirectory, "provisioner.dll");

    /// <summary>The files a first render replaces, in order (relative to the cluster directory), from an uninterrupted run.</summary>
    private static async Task<IReadOnlyList<string>> CountReplacementsOfFirstRenderAsync(ProfileTree tree)
    {
        var clusterDir = Path.Combine(tree.Root, "cluster-probe");
        var log = Path.Combine(tree.Root, "probe-replacements.log");
        var probe = await RenderProcessAsync(tree, clusterDir, new() { [CrashInjection.LogVariable] = log });
        Assert.True(probe.ExitCode == 0, probe.ToString());
        var replaced = File.ReadAllLines(log).Select(l => Path.GetRelativePath(clusterDir, l)).ToList();
        // The CA is written as one unit: its journal, its key and its certificate.
        Assert.Equal([".ca.key.together", "ca.key", "ca.crt"], replaced.Take(3).Select(Path.GetFileName));
        Assert.Contains("auth/admin.kubeconfig", replaced);
        Assert.Contains("ignition/worker-0.ign", replaced);
        Directory.Delete(clusterDir, recursive: true);
        return replaced;
    }

    private static async Task CrashFirstRenderAsync(ProfileTree tree, string clusterDir, int n, IReadOnlyList<string> replacements)
    {
        var log = Path.Combine(tree.Root, $"crash-{n}.log");
        var crashed = await RenderProcessAsync(tree, clusterDir, new()
        {
            [CrashInjection.LogVariable] = log,
            [CrashInjection.CrashAfterVariable] = n.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });
        Assert.True(crashed.ExitCode == 128 + 9, $"render with a crash after replacement {n} of {replacements.Count} was not killed: {crashed}");
        Assert.Equal(n, File.ReadAllLines(log).Length);
    }

    private static Task<ProcessResult> RenderProcessAsync(ProfileTree tree, string clusterDir, Dictionary<string, string> environment) =>
        Programs.RunAsync(Dotnet, [ProvisionerDll, "render", "--profiles", tree.Profiles, "--templates", tree.Templates, "--out", clusterDir],
            Ct, TimeSpan.FromSeconds(120), environment);

    /// <summary>
    /// Judged by openssl, not by the code under test: every CA key matches its certificate, every leaf key its
    /// certificate, every leaf verifies against the CA that issued it, sa.pub is sa.key's, and the admin kubeconfig
    /// trusts tls/ca.crt. No journal or temp file is left.
    /// </summary>
    private static async Task AssertConsistentAsync(string clusterDir, string when)
    {
        var tls = Path.Combine(clusterDir, "tls");
        var certificates = Directory.EnumerateFiles(tls, "*.crt", SearchOption.AllDirectories).Order(StringComparer.Ordinal).ToList();
        var subjects = new Dictionary<string, string>();
        foreach (var cert in certificates)
            subjects[cert] = (await Programs.OpensslAsync(Ct, "x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", cert)).Trim()["subject=".Length..];
        var authorities = certificates.Where(c => Path.GetFileNameWithoutExtension(c).EndsWith("ca", StringComparison.Ordinal)).ToList();
        Assert.True(authorities.Count >= 3, $"{when}: CAs {string.Join(", ", authorities)}"); // ca, etcd/ca, front-proxy-ca (+ provisioner-ca after serve)

        foreach (var cert in certificates)
        {
            var key = Path.ChangeExtension(cert, ".key");
            Assert.True(File.Exists(key), $"{when}: {cert} has no key");
            var certPublic = await Programs.OpensslAsync(Ct, "x509", "-noout", "-pubkey", "-in", cert);
            var keyPublic = await Programs.OpensslAsync(Ct, "pkey", "-pubout", "-in", key);
            Assert.True(certPublic == keyPublic, $"{when}: {key} does not belong to {cert}");
            if (authorities.Contains(cert)) continue;
            var issuer = (await Programs.OpensslAsync(Ct, "x509", "-noout", "-issuer", "-nameopt", "RFC2253", "-in", cert)).Trim()["issuer=".Length..];
            var ca = authorities.SingleOrDefault(a => subjects[a] == issuer);
            Assert.True(ca is not null, $"{when}: {cert} was issued by {issuer}, which is none of the CAs");
            var verified = await Programs.RunAsync(Requires.Program("openssl", "openssl"), ["verify", "-CAfile", ca, cert], Ct);
            Assert.True(verified.ExitCode == 0, $"{when}: {cert} does not verify against {ca}: {verified}");
        }

        var saPublic = await Programs.OpensslAsync(Ct, "pkey", "-pubout", "-in", Path.Combine(tls, "sa.key"));
        Assert.Equal(saPublic, await File.ReadAllTextAsync(Path.Combine(tls, "sa.pub"), Ct));

        var kubeconfig = await File.ReadAllTextAsync(Path.Combine(clusterDir, "auth", "admin.kubeconfig"), Ct);
        var caData = CertificateAuthorityData().Match(kubeconfig).Groups[1].Value;
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(tls, "ca.crt"), Ct), Encoding.ASCII.GetString(Convert.FromBase64String(caData)));

        var leftovers = Directory.EnumerateFiles(clusterDir, ".*", SearchOption.AllDirectories)
            .Where(f => f.EndsWith(".together", StringComparison.Ordinal) || f.EndsWith(".tmp", StringComparison.Ordinal)).ToList();
        Assert.True(leftovers.Count == 0, $"{when}: left behind: {string.Join(", ", leftovers)}");
    }

    [GeneratedRegex(@"certificate-authority-data: ""?([A-Za-z0-9+/=]+)")]
    private static partial Regex CertificateAuthorityData();
}
