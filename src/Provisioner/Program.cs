using Provisioner.Cli;

namespace Provisioner;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = CommandLine.Build(Console.Out, Console.Error, Environment.GetEnvironmentVariable);
        return await root.Parse(args).InvokeAsync();
    }
}
