using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Provisioner.Profiles;

namespace Provisioner.Release;

/// <summary>Hears about transfers; called from several downloads at once.</summary>
internal interface ISyncProgress
{
    void Started(ReleaseArtifact artifact, long? totalBytes, long alreadyHave);
    void Advanced(ReleaseArtifact artifact, long bytes);
    void Finished(ReleaseArtifact artifact);
}

/// <summary>Shared bookkeeping: bytes done and expected over all running transfers, rate since start.</summary>
internal abstract class SyncProgressBase(TimeProvider time) : ISyncProgress
{
    private readonly Lock _lock = new();
    private readonly Dictionary<ReleaseArtifact, (long Done, long? Total)> _running = [];
    private readonly long _start = time.GetTimestamp();
    private long _transferred;

    protected TimeProvider Time { get; } = time;

    public void Started(ReleaseArtifact artifact, long? totalBytes, long alreadyHave)
    {
        lock (_lock) _running[artifact] = (alreadyHave, totalBytes);
        Report(artifact, force: true);
    }

    public void Advanced(ReleaseArtifact artifact, long bytes)
    {
        lock (_lock)
        {
            _transferred += bytes;
            if (_running.TryGetValue(artifact, out var s)) _running[artifact] = (s.Done + bytes, s.Total);
        }
        Report(artifact, force: false);
    }

    public void Finished(ReleaseArtifact artifact)
    {
        Report(artifact, force: true);
        lock (_lock) _running.Remove(artifact);
        Done(artifact);
    }

    protected sealed record Snapshot(long Done, long? Total, double BytesPerSecond, TimeSpan? Eta, int Running);

    protected Snapshot Take(ReleaseArtifact? only)
    {
        lock (_lock)
        {
            var items = only is null ? _running.Values.ToList() : _running.TryGetValue(only, out var s) ? [s] : [];
            var done = items.Sum(i => i.Done);
            long? total = items.All(i => i.Total is not null) ? items.Sum(i => i.Total!.Value) : null;
            var seconds = Math.Max(0.001, Time.GetElapsedTime(_start).TotalSeconds);
            var rate = _transferred / seconds;
            TimeSpan? eta = total is { } t && rate > 0 ? TimeSpan.FromSeconds(Math.Max(0, t - done) / rate) : null;
            return new Snapshot(done, total, rate, eta, _running.Count);
        }
    }

    protected abstract void Report(ReleaseArtifact artifact, bool force);
    protected virtual void Done(ReleaseArtifact artifact) { }

    protected static string Mib(double bytes) => (bytes / (1 << 20)).ToString("0.0", CultureInfo.InvariantCulture) + " MiB";
}

/// <summary>One line, rewritten in place on a terminal: bytes, rate, ETA over all running downloads.</summary>
internal sealed class TerminalProgress(TextWriter terminal, TimeProvider time) : SyncProgressBase(time)
{
    private long _last;
    private readonly Lock _write = new();

    protected override void Report(ReleaseArtifact artifact, bool force)
    {
        var now = Time.GetTimestamp();
        if (!force && Time.GetElapsedTime(Interlocked.Read(ref _last), now) < TimeSpan.FromMilliseconds(200)) return;
        Interlocked.Exchange(ref _last, now);
        var s = Take(null);
        var line = $"{s.Running} downloading: {Mib(s.Done)}{(s.Total is { } t ? " / " + Mib(t) : "")}, {Mib(s.BytesPerSecond)}/s" +
                   (s.Eta is { } eta ? $", ETA {eta:hh\\:mm\\:ss}" : "") + $"  {artifact}";
        lock (_write) terminal.Write("\r" + line.PadRight(100)[..Math.Max(100, line.Length)]);
    }

    protected override void Done(ReleaseArtifact artifact)
    {
        lock (_write) terminal.Write($"\r{("done: " + artifact).PadRight(100)}\n");
    }
}

/// <summary>Structured progress in the log (not a terminal, or under <c>serve</c>): at most every 5 s per artifact.</summary>
internal sealed class LogProgress(ILogger logger, TimeProvider time) : SyncProgressBase(time)
{
    private readonly Dictionary<ReleaseArtifact, long> _last = [];
    private readonly Lock _lock = new();

    protected override void Report(ReleaseArtifact artifact, bool force)
    {
        var now = Time.GetTimestamp();
        lock (_lock)
        {
            if (!force && _last.TryGetValue(artifact, out var last) && Time.GetElapsedTime(last, now) < TimeSpan.FromSeconds(5)) return;
            _last[artifact] = now;
        }
        var s = Take(artifact);
        logger.LogInformation("Downloading {Artifact}: {Bytes} of {TotalBytes} bytes, {BytesPerSecond:0} B/s overall, ETA {EtaSeconds:0} s",
            artifact.ToString(), s.Done, s.Total, s.BytesPerSecond, s.Eta?.TotalSeconds);
    }

    protected override void Done(ReleaseArtifact artifact)
    {
        lock (_lock) _last.Remove(artifact);
    }
}

