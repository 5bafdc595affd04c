using Microsoft.Extensions.Logging;
using Provisioner.Release;
using Provisioner.Profiles;
using Provisioner.Primitives;

namespace Provisioner.Tests.Release;

public sealed class SyncProgressTests
{
    /// <summary>A clock the test moves by hand.</summary>
    private sealed class ManualTime : TimeProvider
    {
        public long Ticks { get; set; }
        public override long TimestampFrequency => TimeSpan.TicksPerSecond;
        public override long GetTimestamp() => Ticks;
        public void Advance(TimeSpan by) => Ticks += by.Ticks;
    }

    private static readonly ReleaseArtifact Rootfs = new("fcos/rootfs.img", "x86_64", new Uri("https://example.org/rootfs"), Digest.Of([1]));

    [Fact]
    public void The_terminal_line_shows_bytes_total_rate_and_eta()
    {
        var time = new ManualTime();
        var terminal = new StringWriter();
        var progress = new TerminalProgress(terminal, time);

        progress.Started(Rootfs, 100L << 20, 0);
        time.Advance(TimeSpan.FromSeconds(2));
        progress.Advanced(Rootfs, 20L << 20);

        var last = terminal.ToString().Split('\r').Last().TrimEnd();
        Assert.Equal("1 downloading: 20.0 MiB / 100.0 MiB, 10.0 MiB/s, ETA 00:00:08  fcos/rootfs.img (x86_64)", last);
    }

    [Fact]
    public void The_terminal_line_is_rewritten_in_place_and_ends_with_a_newline_when_done()
    {
        var terminal = new StringWriter();
        var progress = new TerminalProgress(terminal, new ManualTime());

        progress.Started(Rootfs, 10, 0);
        progress.Advanced(Rootfs, 10);
        progress.Finished(Rootfs);

        Assert.DoesNotContain('\n', terminal.ToString().TrimEnd('\n'));
        Assert.EndsWith("done: fcos/rootfs.img (x86_64)" + new string(' ', 100 - "done: fcos/rootfs.img (x86_64)".Length) + "\n", terminal.ToString());
    }

    private sealed class ListLogger : ILogger
    {
        public List<string> Lines { get; } = [];
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Lines.Add(formatter(state, exception));
    }

    [Fact]
    public void Log_progress_is_a_structured_line_at_most_every_five_seconds()
    {
        var time = new ManualTime();
        var logger = new ListLogger();
        var progress = new LogProgress(logger, time);

        progress.Started(Rootfs, 1000, 0);
        time.Advance(TimeSpan.FromSeconds(1));
        progress.Advanced(Rootfs, 100);
        time.Advance(TimeSpan.FromSeconds(5));
        progress.Advanced(Rootfs, 100);

        Assert.Equal(2, logger.Lines.Count);
        Assert.Equal("Downloading fcos/rootfs.img (x86_64): 200 of 1000 bytes, 33 B/s overall, ETA 24 s", logger.Lines[1]);
    }
}
