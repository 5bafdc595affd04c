using System.Collections.Concurrent;
using System.Diagnostics;
using Provisioner.Tests.Pki;

namespace Provisioner.Tests.Support;

/// <summary>A real etcd (Debian etcd-server) on loopback, its output kept for assertion messages.</summary>
internal sealed class EtcdProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _log = new();

    private EtcdProcess(Process process) => _process = process;

    public IReadOnlyCollection<string> Log => _log;

    public string RecentLog => string.Join('\n', _log.TakeLast(30));

    public static EtcdProcess Start(string etcd, IEnumerable<string> arguments)
    {
        var psi = new ProcessStartInfo(etcd) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        var etcdProcess = new EtcdProcess(Process.Start(psi)!);
        etcdProcess._process.ErrorDataReceived += (_, e) => { if (e.Data is not null) etcdProcess._log.Enqueue(e.Data); };
        etcdProcess._process.OutputDataReceived += (_, e) => { if (e.Data is not null) etcdProcess._log.Enqueue(e.Data); };
        etcdProcess._process.BeginErrorReadLine();
        etcdProcess._process.BeginOutputReadLine();
        return etcdProcess;
    }

    /// <summary>
    /// Repeats an etcdctl call until it succeeds: etcd on a loaded machine can take a while to elect itself
    /// leader. Fails with etcd's log when etcd exits or a minute passes.
    /// </summary>
    public async Task UntilSucceedsAsync(Func<Task<ProcessResult>> call, string what, CancellationToken ct)
    {
        ProcessResult? result = null;
        await Eventually.That(async () =>
        {
            ct.ThrowIfCancellationRequested();
            if ((result = await call()).ExitCode == 0) return true;
            Assert.False(_process.HasExited, $"etcd exited ({_process.ExitCode}):\n{RecentLog}");
            return false;
        }, () => $"etcd to accept {what}: {result}\n{RecentLog}", TimeSpan.FromSeconds(60), interval: TimeSpan.FromMilliseconds(500));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill();
        await _process.WaitForExitAsync(CancellationToken.None);
        _process.Dispose();
    }
}
