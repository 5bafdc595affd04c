using Provisioner.Cli;

namespace Provisioner.Tests.Support;

/// <summary>What one in-process run of the command line exited with and wrote.</summary>
internal sealed record CliResult(int Exit, string Out, string Err);

/// <summary>Runs <c>provisioner ARGS</c> in process with its output captured, as the CLI tests read it.</summary>
internal static class CliRun
{
    /// <param name="env">The environment the command sees (none when null).</param>
    /// <param name="cancellationToken">Defaults to the test's own.</param>
    public static async Task<CliResult> RunAsync(string[] args, IReadOnlyDictionary<string, string>? env = null, CancellationToken? cancellationToken = null)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await CommandLine.InvokeAsync(args, stdout, stderr, name => env?.GetValueOrDefault(name),
            cancellationToken ?? TestContext.Current.CancellationToken);
        return new CliResult(exit, stdout.ToString(), stderr.ToString());
    }
}
