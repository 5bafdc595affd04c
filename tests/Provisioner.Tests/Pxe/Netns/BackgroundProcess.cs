using System.Diagnostics;

namespace Provisioner.Tests.Pxe.Netns;

/// <summary>
/// A long-running program (dnsmasq, the provisioner CLI) whose stdout and stderr are collected as lines, so a
/// test can wait for "ready" and assert on what it logged. Disposing kills it and waits, bounded.
/// </summary>
internal sealed class BackgroundProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly Lock _gate = new();
    private readonly List<string> _lines = [];
    private TaskCompletionSource _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Task _pumps;

    public string CommandLine { get; }

    private BackgroundProcess(Process process, string commandLine)
    {
        _process = process;
        CommandLine = commandLine;
        _pumps = Task.WhenAll(PumpAsync(process.StandardOutput), PumpAsync(process.StandardError));
    }

    /// <param name="environment">Variables set for the program on top of this process's environment.</param>
    public static BackgroundProcess Start(string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) psi.Environment[name] = value;
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + program);
        process.StandardInput.Close();
        return new BackgroundProcess(process, program + " " + string.Join(' ', psi.ArgumentList));
    }

    public IReadOnlyList<string> Lines
    {
        get { lock (_gate) return [.. _lines]; }
    }

    public bool HasExited => _process.HasExited;

    /// <summary>Waits until the program ends by itself; its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    public async Task<string> WaitForLineAsync(Func<string, bool> match, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var next = 0;
        while (true)
        {
            Task changed;
            lock (_gate)
            {
                for (; next < _lines.Count; next++)
                    if (match(_lines[next])) return _lines[next];
                changed = _changed.Task;
            }
            if (_pumps.IsCompleted) throw new InvalidOperationException($"{CommandLine} exited before the expected line:\n{Tail()}");
            try
            {
                await Task.WhenAny(changed, _pumps).WaitAsync(cts.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"{CommandLine}: no expected line within {timeout}:\n{Tail()}");
            }
        }
    }

    public string Tail(int count = 40)
    {
        lock (_gate) return string.Join('\n', _lines.Skip(Math.Max(0, _lines.Count - count)));
    }

    private async Task PumpAsync(StreamReader reader)
    {
        while (await reader.ReadLineAsync() is { } line)
        {
            lock (_gate)
            {
                _lines.Add(line);
                var old = _changed;
                _changed = new(TaskCreationOptions.RunContinuationsAsynchronously);
                old.TrySetResult();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // exited meanwhile
        }
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15));
        try
        {
            await _process.WaitForExitAsync(cts.Token);
            await _pumps.WaitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
        }
        _process.Dispose();
    }
}
