using System.Collections.Concurrent;
using System.Globalization;
using Fluid;

namespace Provisioner.Rendering;

/// <summary>Where a template value came from; line and column are 0 when unknown.</summary>
internal sealed record TemplateLocation(string File, int Line = 0, int Column = 0)
{
    public override string ToString() => Line > 0 ? $"{File}:{Line}:{Column}" : File;
}

/// <summary>A template that failed to parse or render, with where it came from.</summary>
internal sealed class TemplateException(TemplateLocation location, string message)
    : Exception($"{location}: {message}")
{
    public TemplateException(string file, string message) : this(new TemplateLocation(file), message) { }

    public TemplateLocation Location { get; } = location;
    public string Reason { get; } = message;
}

/// <summary>
/// Liquid templates (Fluid) for unit files, scripts and the string values of Ignition templates.
/// Output is not escaped: these are config files, not HTML. Variables are strict so a typo fails
/// validation instead of rendering as an empty string.
/// </summary>
internal sealed class TextTemplates
{
    private static readonly FluidParser Parser = new();
    private readonly TemplateOptions _options;
    private readonly ConcurrentDictionary<string, IFluidTemplate> _cache = new(StringComparer.Ordinal);

    public TextTemplates()
    {
        _options = new TemplateOptions
        {
            StrictVariables = true,
            StrictFilters = true,
            CultureInfo = CultureInfo.InvariantCulture,
            MaxSteps = 100_000,
            MaxRecursion = 32,
        };
    }

    public string Render(string source, IReadOnlyDictionary<string, object> values, TemplateLocation location)
    {
        var template = _cache.GetOrAdd(source, s =>
            Parser.TryParse(s, out var t, out var error) ? t : throw new TemplateException(location, "template syntax error: " + error));
        var context = new TemplateContext(_options);
        foreach (var (name, value) in values) context.SetValue(name, StrictValues.From(value, name));
        try
        {
            return template.Render(context, NullEncoder.Default);
        }
        catch (InvalidOperationException e)
        {
            throw new TemplateException(location, e.Message);
        }
    }

    /// <summary>Evaluates a Liquid condition such as <c>machine.network.static</c>.</summary>
    public bool Condition(string expression, IReadOnlyDictionary<string, object> values, TemplateLocation location) =>
        Render("{% if " + expression + " %}1{% endif %}", values, location) == "1";
}
