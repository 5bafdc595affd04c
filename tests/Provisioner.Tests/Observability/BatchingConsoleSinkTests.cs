using Provisioner.Observability;
using Serilog.Events;
using Serilog.Formatting.Display;
using Serilog.Parsing;

namespace Provisioner.Tests.Observability;

public sealed class BatchingConsoleSinkTests
{
    private static LogEvent Event(int i) => new(DateTimeOffset.UnixEpoch, LogEventLevel.Information, null,
        new MessageTemplateParser().Parse("line {N}"), [new LogEventProperty("N", new ScalarValue(i))]);

    [Fact]
    public void Every_event_is_written_in_order_and_disposing_writes_what_is_queued()
    {
        var output = new MemoryStream();
        var sink = new BatchingConsoleSink(new MessageTemplateTextFormatter("{Message}{NewLine}"), output);
        // More than the queue holds, from several threads at once: nothing is dropped, each thread's lines keep their order.
        Parallel.For(0, 4, t => { for (var i = 0; i < 20_000; i++) sink.Emit(Event(t * 100_000 + i)); });
        sink.Dispose();
        var lines = System.Text.Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(80_000, lines.Length);
        for (var t = 0; t < 4; t++)
        {
            var mine = lines.Select(l => int.Parse(l["line ".Length..], System.Globalization.CultureInfo.InvariantCulture)).Where(n => n / 100_000 == t).ToList();
            Assert.Equal(Enumerable.Range(t * 100_000, 20_000), mine);
        }
    }

    [Fact]
    public async Task A_quiet_servers_line_appears_without_waiting_for_more()
    {
        var output = new MemoryStream();
        using var sink = new BatchingConsoleSink(new MessageTemplateTextFormatter("{Message}{NewLine}"), output);
        sink.Emit(Event(1));
        await Eventually.That(() => output.Length > 0, "the line to be written", TimeSpan.FromSeconds(5));
        Assert.Equal("line 1\n", System.Text.Encoding.UTF8.GetString(output.ToArray()).Replace("\r", ""));
    }
}
