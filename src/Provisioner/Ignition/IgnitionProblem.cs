namespace Provisioner.Ignition;

internal enum IgnitionSeverity
{
    /// <summary>Ignition would refuse the config (or apply something other than intended).</summary>
    Error,
    /// <summary>Ignition would accept the config but warn, e.g. an unknown key it silently ignores.</summary>
    Warning,
}

/// <summary>One finding of <see cref="IgnitionValidator"/>. <paramref name="Path"/> is a JSON path such as <c>$.storage.files[2].path</c>.</summary>
internal sealed record IgnitionProblem(IgnitionSeverity Severity, string Path, string Message)
{
    public override string ToString() => $"{Severity.ToString().ToLowerInvariant()} at {Path}: {Message}";
}

/// <summary>Thrown by <see cref="IgnitionValidator.ThrowIfInvalid"/>; the message lists every error.</summary>
internal sealed class IgnitionValidationException(IReadOnlyList<IgnitionProblem> errors)
    : Exception("Invalid Ignition config:" + string.Concat(errors.Select(e => "\n  " + e)))
{
    public IReadOnlyList<IgnitionProblem> Errors { get; } = errors;
}
