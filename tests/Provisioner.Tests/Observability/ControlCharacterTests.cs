using Provisioner.Observability;
using Serilog;
using Serilog.Events;
using Serilog.Formatting.Display;

namespace Provisioner.Tests.Observability;

public sealed class ControlCharacterTests
{
    [Fact]
    public void Control_characters_are_written_as_escapes() =>
        Assert.Equal("a\\r\\n[22:00:00 INF] b\\t\\u001b[2Jc", ControlCharacters.Escape("a\r\n[22:00:00 INF] b\t\u001b[2Jc"));

    [Fact]
    public void Text_without_control_characters_is_returned_as_it_is()
    {
        const string text = "GET /ignition?mac=52-54-00-00-30-01 → ünïcode";
        Assert.Same(text, ControlCharacters.Escape(text));
    }

    [Fact]
    public void A_value_with_a_line_break_cannot_forge_a_second_log_line()
    {
        var events = new List<LogEvent>();
        using (var logger = new LoggerConfiguration().Enrich.With<ControlCharacterEscaper>().WriteTo.Sink(new ListSink(events)).CreateLogger())
            logger.Information("{Method} {Path}", "GET", "/x\r\n[22:00:00 INF] GET /ignition forged");

        var output = new StringWriter();
        new MessageTemplateTextFormatter("[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}").Format(Assert.Single(events), output);
        var lines = output.ToString().Split(Environment.NewLine, StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.EndsWith("GET /x\\r\\n[22:00:00 INF] GET /ignition forged", lines[0]);
    }

    private sealed class ListSink(List<LogEvent> events) : Serilog.Core.ILogEventSink
    {
        public void Emit(LogEvent logEvent) => events.Add(logEvent);
    }
}
