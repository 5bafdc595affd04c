using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Boot.Qemu;

/// <summary>
/// One QEMU (TCG, no KVM) VM that network-boots through iPXE. The serial console is QEMU's
/// stdout; it is collected as lines (ANSI escapes and CRs removed) so tests can wait for markers.
/// Disposing kills the process tree and removes the temporary work directory.
/// </summary>
internal sealed partial class QemuVm : IAsyncDisposable
{
    private const string QemuBinary = "qemu-system-x86_64";

    private readonly Process _process;
    private readonly string _workDirectory;
    private readonly bool _ownsWorkDirectory;
    private readonly StreamWriter _logFile;
    private readonly Lock _gate = new();
    private readonly List<string> _lines = [];
    private readonly StringBuilder _raw = new();
    private readonly StringBuilder _partialConsole = new();
    private readonly StringBuilder _partialStderr = new();
    private TaskCompletionSource _changed = NewSignal();
    private readonly Task _stdoutPump;
    private readonly Task _stderrPump;
    private int _pumpsEnded;

    public Stopwatch Uptime { get; } = Stopwatch.StartNew();

    /// <summary>The full command line, for diagnostics.</summary>
    public string CommandLine { get; }

    /// <summary>Path of the console log file (raw serial output plus QEMU's stderr).</summary>
    public string ConsoleLogPath { get; }

    /// <summary>Everything the VM has written so far, raw.</summary>
    public string ConsoleLog
    {
        get { lock (_gate) return _raw.ToString(); }
    }

    /// <summary>Complete lines so far, cleaned of escapes; lines from QEMU's stderr start with <see cref="StderrPrefix"/>.</summary>
    public IReadOnlyList<string> ConsoleLines
    {
        get { lock (_gate) return [.. _lines]; }
    }

    public bool HasExited => _process.HasExited;

    private QemuVm(Process process, string commandLine, string workDirectory, bool ownsWorkDirectory, string logPath, StreamWriter logFile)
    {
        _process = process;
        CommandLine = commandLine;
        _workDirectory = workDirectory;
        _ownsWorkDirectory = ownsWorkDirectory;
        ConsoleLogPath = logPath;
        _logFile = logFile;
        _stdoutPump = PumpAsync(process.StandardOutput, isConsole: true);
        _stderrPump = PumpAsync(process.StandardError, isConsole: false);
    }

    public static async Task<QemuVm> StartAsync(QemuBootOptions options, CancellationToken cancellationToken)
    {
        var qemu = Requires.Program(QemuBinary, "qemu-system-x86");
        var ownsWork = options.WorkDirectory is null;
        var work = options.WorkDirectory ?? Directory.CreateTempSubdirectory("provisioner-qemu-").FullName;
        Directory.CreateDirectory(work);

        var args = new List<string>
        {
            "-m", options.MemoryMb.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "-display", "none",
            "-monitor", "none",
            "-serial", "stdio",
            "-netdev", options switch
            {
                { Tap: { } tap, BootUrl: null } => $"tap,id=net0,ifname={tap.Interface},script=no,downscript=no",
                { Tap: null, BootUrl: { } url } => $"user,id=net0,bootfile={url}",
                _ => throw new ArgumentException("give exactly one of BootUrl (user networking) and Tap", nameof(options)),
            },
        };

        // A guest reboot (e.g. a kernel panic) must end the run instead of netbooting forever, unless the test
        // follows the machine through its reboot.
        if (!options.AllowReboot) args.Add("-no-reboot");

        // Booting a kernel directly, the NIC must not come first in the boot order (its iPXE would try to netboot).
        var nic = $"e1000,netdev=net0,mac={options.Mac}" + (options.DirectKernel is null ? ",bootindex=1" : "");
        switch (options.Firmware)
        {
            case QemuFirmware.Bios:
                args.AddRange(["-machine", "pc,accel=tcg"]);
                // QEMU's default e1000 ROM is the combined iPXE image; name it only when we can find it.
                if (FindFirst(RomCandidates("efi-e1000.rom").Concat(RomCandidates("pxe-e1000.rom"))) is { } biosRom)
                    nic += $",romfile={biosRom}";
                if (options.DirectKernel is null) args.AddRange(["-boot", "n"]);
                break;
            case QemuFirmware.Uefi:
                args.AddRange(["-machine", "q35,accel=tcg"]);
                var efiRom = FindFirst(RomCandidates("efi-e1000.rom"));
                Requires.Condition(efiRom is not null, "the iPXE EFI ROM efi-e1000.rom is not installed (apt-get install ipxe-qemu)");
                nic += $",romfile={efiRom}";
                args.AddRange(await OvmfArgsAsync(work, cancellationToken));
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(options), options.Firmware, "unknown firmware");
        }
        args.AddRange(["-device", nic]);
        if (options.DirectKernel is { } direct)
            args.AddRange(["-kernel", direct.Kernel, "-initrd", direct.Initramfs, "-append", direct.CommandLine]);
        args.AddRange(options.ExtraArgs);

        // On a tap in a namespace QEMU must run inside it; 'ip netns exec' execs QEMU in place, so the PID is QEMU's.
        if (options.Tap is { } inNamespace)
        {
            args.InsertRange(0, ["netns", "exec", inNamespace.Namespace, qemu]);
            qemu = Requires.Program("ip", "iproute2");
        }
        var psi = new ProcessStartInfo(qemu)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = work,
            // Latin1 maps every byte to one char, so firmware noise can never break decoding.
            StandardOutputEncoding = Encoding.Latin1,
            StandardErrorEncoding = Encoding.Latin1,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        var commandLine = qemu + " " + string.Join(' ', args);

        var logPath = Path.Combine(work, "console.log");
        var logFile = new StreamWriter(logPath, append: false, Encoding.Latin1) { AutoFlush = true };
        await logFile.WriteLineAsync($"# {commandLine}".AsMemory(), cancellationToken);
        var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + qemu);
        return new QemuVm(process, commandLine, work, ownsWork, logPath, logFile);
    }

    /// <summary>Waits for a console line matching <paramref name="match"/> (lines already seen count)
    /// and returns it. Throws <see cref="TimeoutException"/> with the console tail on timeout, or
    /// when the VM exits without printing one.</summary>
    public async Task<string> WaitForConsoleLineAsync(Func<string, bool> match, TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        var next = 0;
        while (true)
        {
            Task changed;
            bool ended;
            lock (_gate)
            {
                for (; next < _lines.Count; next++)
                    if (match(_lines[next])) return _lines[next];
                changed = _changed.Task;
                ended = _pumpsEnded == 2;
            }
            if (ended)
                throw new TimeoutException($"QEMU exited before the expected console line appeared.\n{Diagnostics()}");
            try
            {
                await changed.WaitAsync(cts.Token);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                throw new TimeoutException($"No matching console line within {timeout}.\n{Diagnostics()}");
            }
        }
    }

    /// <summary>Waits for QEMU to exit (the guest powers off) and returns its exit code.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"QEMU did not exit within {timeout}.\n{Diagnostics()}");
        }
        // Drain the pumps so ConsoleLog is complete once this returns.
        await Task.WhenAll(_stdoutPump, _stderrPump).WaitAsync(cancellationToken);
        return _process.ExitCode;
    }

    /// <summary>The command line and the last console lines, for failure messages.</summary>
    public string Diagnostics(int tailLines = 60)
    {
        string tail;
        lock (_gate)
        {
            tail = string.Join('\n', _lines.Skip(Math.Max(0, _lines.Count - tailLines)));
            if (_partialConsole.Length > 0) tail += "\n" + CleanLine(_partialConsole.ToString());
        }
        return $"command: {CommandLine}\nlog: {ConsoleLogPath}\nconsole tail:\n{tail}";
    }

    private async Task PumpAsync(StreamReader reader, bool isConsole)
    {
        var buffer = new char[4096];
        try
        {
            int n;
            // No token: the pump ends when QEMU closes the pipe, which dispose guarantees by killing it.
            while ((n = await reader.ReadAsync(buffer.AsMemory())) > 0)
                Append(buffer.AsSpan(0, n), isConsole);
        }
        catch (ObjectDisposedException)
        {
        }
        finally
        {
            lock (_gate)
            {
                var partial = isConsole ? _partialConsole : _partialStderr;
                if (partial.Length > 0) CompleteLine(partial, isConsole);
                // Waiters give up only when both streams are drained, so QEMU's own error is in the message.
                _pumpsEnded++;
                Signal();
            }
        }
    }

    private void Append(ReadOnlySpan<char> chunk, bool isConsole)
    {
        lock (_gate)
        {
            _raw.Append(chunk);
            _logFile.Write(chunk);
            // Separate line buffers: stderr text must not split a console line that is half written.
            var partial = isConsole ? _partialConsole : _partialStderr;
            foreach (var c in chunk)
            {
                if (c == '\n') CompleteLine(partial, isConsole);
                else partial.Append(c);
            }
            Signal();
        }
    }

    private void CompleteLine(StringBuilder partial, bool isConsole)
    {
        var line = CleanLine(partial.ToString());
        _lines.Add(isConsole ? line : StderrPrefix + line);
        partial.Clear();
    }

    /// <summary>Marks lines that came from QEMU's stderr rather than the guest console.</summary>
    public const string StderrPrefix = "qemu-stderr: ";

    private void Signal()
    {
        var old = _changed;
        _changed = NewSignal();
        old.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    private static string CleanLine(string line) => ControlChars().Replace(AnsiEscape().Replace(line, ""), "");

    [GeneratedRegex(@"\x1B(\[[0-9;?]*[ -/]*[@-~]|[()][0-9A-Za-z]|[=>78cDEHM])")]
    private static partial Regex AnsiEscape();

    [GeneratedRegex(@"[\x00-\x08\x0B-\x1F\x7F]")]
    private static partial Regex ControlChars();

    private static IEnumerable<string> RomCandidates(string name) =>
        ["/usr/lib/ipxe/qemu/" + name, "/usr/share/qemu/" + name, "/usr/share/ipxe/qemu/" + name];

    private static string? FindFirst(IEnumerable<string> paths) => paths.FirstOrDefault(File.Exists);

    /// <summary>pflash arguments for OVMF: the read-only code image and a private writable copy of
    /// the matching variable store (OVMF writes boot entries into it).</summary>
    private static async Task<string[]> OvmfArgsAsync(string work, CancellationToken cancellationToken)
    {
        (string Code, string Vars)[] pairs =
        [
            ("/usr/share/OVMF/OVMF_CODE_4M.fd", "/usr/share/OVMF/OVMF_VARS_4M.fd"),
            ("/usr/share/OVMF/OVMF_CODE.fd", "/usr/share/OVMF/OVMF_VARS.fd"),
            ("/usr/share/edk2/ovmf/OVMF_CODE.fd", "/usr/share/edk2/ovmf/OVMF_VARS.fd"),
            ("/usr/share/edk2/x64/OVMF_CODE.4m.fd", "/usr/share/edk2/x64/OVMF_VARS.4m.fd"),
        ];
        foreach (var (code, vars) in pairs)
        {
            if (!File.Exists(code) || !File.Exists(vars)) continue;
            var varsCopy = Path.Combine(work, "OVMF_VARS.fd");
            await using (var src = File.OpenRead(vars))
            await using (var dst = File.Create(varsCopy))
                await src.CopyToAsync(dst, cancellationToken);
            return
            [
                "-drive", $"if=pflash,format=raw,unit=0,readonly=on,file={code}",
                "-drive", $"if=pflash,format=raw,unit=1,file={varsCopy}",
            ];
        }
        // A combined image (code + vars in one file) works read-only through -bios.
        foreach (var combined in new[] { "/usr/share/ovmf/OVMF.fd", "/usr/share/qemu/OVMF.fd" })
            if (File.Exists(combined)) return ["-bios", combined];
        Requires.Unavailable("OVMF firmware is not installed (apt-get install ovmf)");
        return [];
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Exited between the check and the kill.
        }
        // Bounded: a killed QEMU closes its pipes at once; never hang a test run on teardown.
        using (var cts = new CancellationTokenSource(TimeSpan.FromSeconds(15)))
        {
            try
            {
                await _process.WaitForExitAsync(cts.Token);
                await Task.WhenAll(_stdoutPump, _stderrPump).WaitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
            }
        }
        lock (_gate) _logFile.Dispose();
        _process.Dispose();
        if (_ownsWorkDirectory)
        {
            try { Directory.Delete(_workDirectory, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        }
    }
}
