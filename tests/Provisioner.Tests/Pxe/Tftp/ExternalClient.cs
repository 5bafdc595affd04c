using System.Diagnostics;

namespace Provisioner.Tests.Pxe.Tftp;

internal sealed record ProcessResult(int ExitCode, string Output)
{
    public override string ToString() => $"exit {ExitCode}: {Output}";
}

/// <summary>Runs a real command-line TFTP client (tftp-hpa, atftp) and captures what it printed.</summary>
internal static class ExternalClient
{
    public static async Task<ProcessResult> RunAsync(string program, params string[] arguments)
    {
        var psi = new ProcessStartInfo(program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
        };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi)!;
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TimeSpan.FromMinutes(2));
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{program} {string.Join(' ', arguments)} did not finish");
        }
        return new ProcessResult(process.ExitCode, (await stdout) + (await stderr));
    }
}
