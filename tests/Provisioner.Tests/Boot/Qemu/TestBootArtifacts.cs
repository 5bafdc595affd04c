using System.Diagnostics;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Boot.Qemu;

/// <summary>The kernel and initramfs built by <c>scripts/build-test-boot-artifacts.sh</c>.</summary>
internal sealed record TestBootArtifacts(string Directory, string Kernel, string Initramfs)
{
    /// <summary>Cache shared by all test runs (git-ignored); the script itself skips work when fresh.</summary>
    public static string CacheDirectory => Path.Combine(RepoPaths.Root, ".artifacts", "testboot");

    private static readonly SemaphoreSlim Gate = new(1, 1);
    private static TestBootArtifacts? _built;

    /// <summary>Builds (or reuses) the artifacts; the script runs at most once per test process.</summary>
    public static async Task<TestBootArtifacts> EnsureAsync(CancellationToken cancellationToken)
    {
        // Fail or skip early with the real reason rather than inside the script.
        Requires.Program("apt-get", "apt");
        Requires.Program("dpkg-deb", "dpkg");
        Requires.Program("cpio", "cpio");
        Requires.Program("gzip", "gzip");

        await Gate.WaitAsync(cancellationToken);
        try
        {
            if (_built is not null) return _built;
            var script = Path.Combine(RepoPaths.Root, "scripts", "build-test-boot-artifacts.sh");
            var dir = CacheDirectory;
            var psi = new ProcessStartInfo("bash")
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
                WorkingDirectory = RepoPaths.Root,
            };
            psi.ArgumentList.Add(script);
            psi.ArgumentList.Add(dir);
            using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start bash");
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
            var output = await stdout + await stderr;
            if (process.ExitCode != 0)
                Assert.Fail($"{script} failed with exit code {process.ExitCode}:\n{output}");

            var built = new TestBootArtifacts(dir, Path.Combine(dir, "vmlinuz"), Path.Combine(dir, "initramfs.img"));
            foreach (var file in new[] { built.Kernel, built.Initramfs })
                if (!File.Exists(file)) Assert.Fail($"{script} succeeded but {file} is missing:\n{output}");
            return _built = built;
        }
        finally
        {
            Gate.Release();
        }
    }
}
