using System.Collections.Immutable;
using System.Diagnostics;
using System.Net;
using Provisioner.Profiles;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Pki;

internal static class TestProfiles
{
    public static ClusterSpec Cluster(IPAddress? vip = null, string serviceCidr = "10.96.0.0/12") => new(
        "demo", "example.com", "api.demo.example.com", vip ?? IPAddress.Parse("192.168.50.5"), "v1.31.0",
        IPNetwork.Parse("10.244.0.0/16"), IPNetwork.Parse(serviceCidr), IPAddress.Parse("10.96.0.10"),
        "cluster.local", [], null);

    public static MachineSpec Machine(string name, string role, string? ip) => new(
        name, role, new MachineSelectors([], null, null, null),
        ip is null ? NetworkSpec.UseDhcp : new NetworkSpec(false, "eth0", IPAddress.Parse(ip), 24, null, []),
        null, ImmutableDictionary<string, string>.Empty, new SourceLocation("machines.yaml", 1, 1));

    /// <summary>Two control-plane machines (one IPv4, one IPv6), a bootstrap machine and a worker.</summary>
    public static ProfileSet Standard(ClusterSpec? cluster = null, params MachineSpec[] extra) => new(
        cluster ?? Cluster(),
        ImmutableDictionary<string, RoleSpec>.Empty,
        [
            Machine("cp1", "control-plane", "192.168.50.11"),
            Machine("cp2", "control-plane", "fd00:50::12"),
            Machine("boot", "bootstrap", "192.168.50.9"),
            Machine("worker1", "worker", "192.168.50.21"),
            .. extra,
        ],
        "/profiles");
}

/// <summary>A temporary directory removed after the test.</summary>
internal sealed class TempDir : IDisposable
{
    public string Path { get; } = Directory.CreateTempSubdirectory("pki-test-").FullName;

    public string this[string relative] => System.IO.Path.Combine(Path, relative);

    public void Dispose()
    {
        try { Directory.Delete(Path, recursive: true); }
        catch (IOException) { /* best effort: a still-exiting etcd may hold files */ }
    }
}

internal sealed class FixedClock(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}

internal sealed record ProcessResult(int ExitCode, string Stdout, string Stderr)
{
    public override string ToString() => $"exit {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
}

internal static class Programs
{
    public static async Task<ProcessResult> RunAsync(string program, IEnumerable<string> args, CancellationToken ct, TimeSpan? timeout = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"could not start {program}");
        process.StandardInput.Close();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout ?? TimeSpan.FromSeconds(60));
        var stdout = process.StandardOutput.ReadToEndAsync(cts.Token);
        var stderr = process.StandardError.ReadToEndAsync(cts.Token);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return new ProcessResult(process.ExitCode, await stdout, await stderr);
    }

    public static async Task<string> OpensslAsync(CancellationToken ct, params string[] args)
    {
        var openssl = Requires.Program("openssl", "openssl");
        var result = await RunAsync(openssl, args, ct);
        Assert.True(result.ExitCode == 0, $"openssl {string.Join(' ', args)} failed: {result}");
        return result.Stdout;
    }
}
