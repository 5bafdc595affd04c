using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Boot.Qemu;

/// <summary>Checks on the boot payload and the harness that do not need a full boot.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class TestBootArtifactsTests
{
    [Fact]
    public async Task Artifact_scripts_are_shellcheck_clean()
    {
        var ct = TestContext.Current.CancellationToken;
        var shellcheck = Requires.Program("shellcheck", "shellcheck");
        var scripts = new[] { "scripts/build-test-boot-artifacts.sh", "scripts/testboot/init", "scripts/testboot/udhcpc.script" }
            .Select(s => Path.Combine(RepoPaths.Root, s)).ToArray();
        var (exit, output) = await RunAsync(shellcheck, scripts, ct);
        Assert.True(exit == 0, $"shellcheck found problems:\n{output}");
    }

    [Fact]
    [Trait(Category.Name, Category.Slow)]
    public async Task Initramfs_is_a_gzipped_newc_archive_with_init_busybox_and_the_e1000_driver()
    {
        var ct = TestContext.Current.CancellationToken;
        var artifacts = await TestBootArtifacts.EnsureAsync(ct);

        var entries = await ReadNewcAsync(artifacts.Initramfs, ct);
        Assert.True((entries["init"] & 0b001_001_001) != 0, "/init must be executable");
        Assert.True((entries["bin/busybox"] & 0b001_001_001) != 0, "/bin/busybox must be executable");
        Assert.Contains("etc/udhcpc.script", entries.Keys);
        Assert.Contains("lib/modules/e1000.ko", entries.Keys);
        Assert.Contains("lib/modules/load-order", entries.Keys);

        // A bzImage carries "HdrS" at offset 0x202 (the x86 boot protocol header).
        var header = new byte[0x206];
        await using (var kernel = File.OpenRead(artifacts.Kernel))
            await kernel.ReadExactlyAsync(header, ct);
        Assert.Equal("HdrS", Encoding.ASCII.GetString(header, 0x202, 4));
    }

    [Fact]
    public async Task Vm_that_exits_early_fails_the_wait_with_qemus_error_instead_of_hanging()
    {
        var ct = TestContext.Current.CancellationToken;
        Requires.Program("qemu-system-x86_64", "qemu-system-x86");
        await using var vm = await QemuVm.StartAsync(new QemuBootOptions
        {
            Mac = "52:54:00:00:00:01",
            BootUrl = "http://10.0.2.2:1/boot.ipxe",
            ExtraArgs = ["-no-such-option"],
        }, ct);

        var clock = Stopwatch.StartNew();
        var error = await Assert.ThrowsAsync<TimeoutException>(() =>
            vm.WaitForConsoleLineAsync(l => l.Contains("PROVISIONER-REPORTED", StringComparison.Ordinal), TimeSpan.FromMinutes(2), ct));
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), $"took {clock.Elapsed} to notice the exit");
        Assert.Contains("exited before", error.Message);
        Assert.Contains(QemuVm.StderrPrefix, error.Message);
        Assert.NotEqual(0, await vm.WaitForExitAsync(TimeSpan.FromSeconds(10), ct));
    }

    /// <summary>Names (without leading "./") and modes of a gzip'd "newc" cpio archive.</summary>
    private static async Task<Dictionary<string, int>> ReadNewcAsync(string path, CancellationToken ct)
    {
        using var data = new MemoryStream();
        await using (var gz = new GZipStream(File.OpenRead(path), CompressionMode.Decompress))
            await gz.CopyToAsync(data, ct);
        var bytes = data.ToArray();
        var entries = new Dictionary<string, int>();
        var pos = 0;
        while (true)
        {
            var magic = Encoding.ASCII.GetString(bytes, pos, 6);
            Assert.Equal("070701", magic);
            int Field(int index) => Convert.ToInt32(Encoding.ASCII.GetString(bytes, pos + 6 + index * 8, 8), 16);
            var mode = Field(1);
            var fileSize = Field(6);
            var nameSize = Field(11);
            var name = Encoding.ASCII.GetString(bytes, pos + 110, nameSize - 1);
            if (name == "TRAILER!!!") break;
            entries[name.StartsWith("./", StringComparison.Ordinal) ? name[2..] : name] = mode;
            pos = Align4(Align4(pos + 110 + nameSize) + fileSize);
        }
        return entries;

        static int Align4(int n) => (n + 3) & ~3;
    }

    private static async Task<(int Exit, string Output)> RunAsync(string program, IEnumerable<string> args, CancellationToken ct)
    {
        var psi = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start " + program);
        var stdout = process.StandardOutput.ReadToEndAsync(ct);
        var stderr = process.StandardError.ReadToEndAsync(ct);
        await process.WaitForExitAsync(ct);
        return (process.ExitCode, await stdout + await stderr);
    }
}
