using Provisioner.Cli;

namespace Provisioner;

internal static class Program
{
    public static Task<int> Main(string[] args) =>
        CommandLine.InvokeAsync(args, Console.Out, Console.Error, Environment.GetEnvironmentVariable, CancellationToken.None);
}
