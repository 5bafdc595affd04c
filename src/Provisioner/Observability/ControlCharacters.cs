using System.Text;
using Serilog.Core;
using Serilog.Events;

namespace Provisioner.Observability;

/// <summary>
/// Text from the network (paths, query values, reported details) must not reach a log line or an error reason raw:
/// a CR/LF would forge a log line of its own, an ESC sequence would rewrite an operator's terminal.
/// </summary>
internal static class ControlCharacters
{
    /// <summary><paramref name="text"/> with every control character written as an escape (\r, \n, \t, \u001b, …).</summary>
    public static string Escape(string text)
    {
        if (!text.Any(char.IsControl)) return text;
        var sb = new StringBuilder(text.Length + 8);
        foreach (var c in text)
        {
            sb.Append(c switch
            {
                '\r' => "\\r",
                '\n' => "\\n",
                '\t' => "\\t",
                _ when char.IsControl(c) => $"\\u{(int)c:x4}",
                _ => c.ToString(),
            });
        }
        return sb.ToString();
    }
}

/// <summary>Escapes control characters in every string property of a log event, so every sink gets them escaped.</summary>
internal sealed class ControlCharacterEscaper : ILogEventEnricher
{
    public void Enrich(LogEvent logEvent, ILogEventPropertyFactory propertyFactory)
    {
        List<LogEventProperty>? escaped = null;
        foreach (var (name, value) in logEvent.Properties)
            if (value is ScalarValue { Value: string text } && text.Any(char.IsControl))
                (escaped ??= []).Add(new LogEventProperty(name, new ScalarValue(ControlCharacters.Escape(text))));
        foreach (var property in escaped ?? []) logEvent.AddOrUpdateProperty(property);
    }
}
