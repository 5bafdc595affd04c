using System.Diagnostics;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Cli;

/// <summary>
/// The newcomer's path: <c>scripts/install.sh</c> into a PREFIX, then the installed <c>provisioner</c> validates a
/// copy of the example profiles made somewhere else — with no ignition-templates/ beside it.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class InstallScriptTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("provisioner-install-").FullName;

    public void Dispose()
    {
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }

    private static async Task<(int Exit, string Out, string Err)> RunAsync(string file, IEnumerable<string> args, string workingDirectory,
        IReadOnlyDictionary<string, string>? env = null)
    {
        var start = new ProcessStartInfo(file) { WorkingDirectory = workingDirectory, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) start.ArgumentList.Add(a);
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) start.Environment[k] = v;
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        // dotnet publish on a busy shared machine can take minutes.
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        timeout.CancelAfter(TimeSpan.FromMinutes(10));
        try { await process.WaitForExitAsync(timeout.Token); }
        catch (OperationCanceledException) { process.Kill(entireProcessTree: true); throw; }
        return (process.ExitCode, await stdout, await stderr);
    }

    [Fact]
    public async Task Installed_provisioner_validates_a_copy_of_the_example_profiles_with_the_shipped_templates()
    {
        Requires.Program("dotnet");
        var prefix = Path.Combine(_root, "prefix");

        var install = await RunAsync("bash", [Path.Combine(RepoPaths.Root, "scripts", "install.sh")], _root, new Dictionary<string, string> { ["PREFIX"] = prefix });

        Assert.True(install.Exit == 0, install.Out + install.Err);
        var program = Path.Combine(prefix, "bin", "provisioner");
        Assert.True(File.Exists(program), program);
        Assert.True(File.Exists(Path.Combine(prefix, "lib", "provisioner", "ignition-templates", "bootstrap", "config.yaml")));
        Assert.True(File.Exists(Path.Combine(prefix, "share", "provisioner", "ignition-templates", "bootstrap", "config.yaml")));

        // As profiles/cluster.yaml tells a newcomer: copy the profiles directory, on its own, elsewhere.
        var site = Path.Combine(_root, "site");
        var profiles = Path.Combine(site, "profiles");
        Directory.CreateDirectory(profiles);
        foreach (var file in Directory.EnumerateFiles(Path.Combine(prefix, "share", "provisioner", "profiles")))
            File.Copy(file, Path.Combine(profiles, Path.GetFileName(file)));

        var validate = await RunAsync(program, ["validate", "--profiles", profiles], site);

        Assert.True(validate.Exit == 0, validate.Out + validate.Err);
        Assert.Contains($"templates: {Path.Combine(prefix, "lib", "provisioner", "ignition-templates")} (shipped with provisioner", validate.Out);
        Assert.Contains("ok: cluster demo, 3 roles, 3 machines", validate.Out);
    }

    [Fact]
    public async Task An_unwritable_prefix_is_refused_with_what_to_do()
    {
        if (Environment.UserName == "root") Assert.Skip("root can write anywhere, so there is no unwritable PREFIX to try");
        var prefix = Path.Combine(_root, "readonly");
        Directory.CreateDirectory(prefix);
        File.SetUnixFileMode(prefix, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        try
        {
            var install = await RunAsync("bash", [Path.Combine(RepoPaths.Root, "scripts", "install.sh")], _root, new Dictionary<string, string> { ["PREFIX"] = prefix });
            Assert.Equal(1, install.Exit);
            Assert.Contains("cannot write below", install.Err);
            Assert.Contains("PREFIX=", install.Err);
        }
        finally { File.SetUnixFileMode(prefix, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute); }
    }
}
