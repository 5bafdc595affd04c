using System.Diagnostics;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Registry;

/// <summary>
/// Runs Debian's skopeo with everything it would read from the user's account redirected into a temp
/// directory: an accept-anything signature policy, HOME and XDG directories, no credentials.
/// </summary>
internal sealed class Skopeo : IDisposable
{
    private readonly string _program = Requires.Program("skopeo", "skopeo");
    private readonly DirectoryInfo _home = Directory.CreateTempSubdirectory("provisioner-skopeo-");

    public Skopeo()
    {
        File.WriteAllText(PolicyFile, """{"default":[{"type":"insecureAcceptAnything"}]}""");
    }

    public string Work => _home.FullName;
    private string PolicyFile => Path.Combine(_home.FullName, "policy.json");

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public Result EnsureSuccess() => ExitCode == 0 ? this : throw new Xunit.Sdk.XunitException($"skopeo exited {ExitCode}: {Stderr}");
    }

    public async Task<Result> RunAsync(CancellationToken cancellationToken, params string[] args)
    {
        var start = new ProcessStartInfo(_program) { RedirectStandardOutput = true, RedirectStandardError = true };
        start.ArgumentList.Add("--policy");
        start.ArgumentList.Add(PolicyFile);
        foreach (var a in args) start.ArgumentList.Add(a);
        start.Environment["HOME"] = _home.FullName;
        start.Environment["XDG_RUNTIME_DIR"] = _home.FullName;
        start.Environment["XDG_CONFIG_HOME"] = Path.Combine(_home.FullName, ".config");
        start.Environment["XDG_DATA_HOME"] = Path.Combine(_home.FullName, ".local/share");
        start.Environment["REGISTRY_AUTH_FILE"] = Path.Combine(_home.FullName, "auth.json");
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            await process.WaitForExitAsync(cancellationToken);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    public void Dispose() => _home.Delete(recursive: true);
}
