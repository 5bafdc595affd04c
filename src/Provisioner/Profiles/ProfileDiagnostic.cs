namespace Provisioner.Profiles;

/// <summary>One problem in the operator's files, pointing at file, line, column and field.</summary>
internal sealed record ProfileDiagnostic(string File, int Line, int Column, string Field, string Message)
{
    public override string ToString() => $"{File}:{Line}:{Column}: {Field}: {Message}";
}

/// <summary>Thrown when a profile tree is invalid; carries every problem found, not just the first.</summary>
internal sealed class ProfileValidationException(IReadOnlyList<ProfileDiagnostic> diagnostics)
    : Exception($"{diagnostics.Count} problem(s) in the profiles:{Environment.NewLine}" +
                string.Join(Environment.NewLine, diagnostics.Select(d => "  " + d)))
{
    public IReadOnlyList<ProfileDiagnostic> Diagnostics { get; } = diagnostics;
}
