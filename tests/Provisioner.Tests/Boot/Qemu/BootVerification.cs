using System.Security.Cryptography;
using System.Text.Json;
using Provisioner.Tests.Ignition;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Boot.Qemu;

/// <summary>
/// What every network-boot test proves once the VM runs: the test initramfs fetched its Ignition config and
/// reported its hash, the server recorded the whole chain in order, and the hash is that of the config the
/// server serves for the machine, which is valid Ignition. Shared by the user-network and the PXE boot tests.
/// </summary>
internal static class BootVerification
{
    /// <summary>A profile tree where <paramref name="name"/> (selected by <paramref name="mac"/>) boots the test kernel and initramfs.</summary>
    public static void WriteTestMachine(ProfileTree tree, TestBootArtifacts artifacts, string name, string mac)
    {
        tree.Write("roles.yaml", """
            roles:
              worker:
                boot:
                  kernel: test/vmlinuz
                  initrd: [test/initramfs.img]
                  args: [quiet]
                ignition:
                  template: worker
            """);
        tree.Write("machines.yaml", $"""
            machines:
              - name: {name}
                role: worker
                select:
                  mac: {mac}
            """);
        Directory.CreateDirectory(Path.Combine(tree.Assets, "test"));
        File.Copy(artifacts.Kernel, Path.Combine(tree.Assets, "test", "vmlinuz"));
        File.Copy(artifacts.Initramfs, Path.Combine(tree.Assets, "test", "initramfs.img"));
    }

    /// <param name="get">GET a path (with query) from the server the VM booted from; the body's bytes.</param>
    public static async Task AssertBootedToIgnitionAsync(QemuVm vm, string name, string mac, Func<string, Task<byte[]>> get,
        TimeSpan budget, CancellationToken ct)
    {
        var verdict = await vm.WaitForConsoleLineAsync(
            l => l.StartsWith("PROVISIONER-REPORTED", StringComparison.Ordinal) || l.StartsWith("PROVISIONER-FAILED", StringComparison.Ordinal),
            budget, ct);
        Assert.True(verdict.StartsWith("PROVISIONER-REPORTED", StringComparison.Ordinal), $"guest failed: {verdict}\n{vm.Diagnostics()}");
        Assert.Equal(0, await vm.WaitForExitAsync(TimeSpan.FromSeconds(60), ct));

        // The server saw the whole chain for this machine, in order.
        using var machines = JsonDocument.Parse(await get("/api/v1/machines"));
        var machine = machines.RootElement.GetProperty("machines").EnumerateArray()
            .Single(m => m.TryGetProperty("name", out var n) && n.GetString() == name);
        var history = machine.GetProperty("history");
        Assert.Equal(["ipxe", "kernel", "initrd", "ignition", "ignition-fetched"],
            history.EnumerateArray().Select(e => e.GetProperty("stage").GetString()!));

        // What the machine hashed is exactly what the server serves for it, and that is valid Ignition 3.4.0.
        var served = await get($"/ignition?mac={mac.Replace(':', '-')}");
        var expected = Convert.ToHexStringLower(SHA256.HashData(served));
        var hashLine = vm.ConsoleLines.Single(l => l.StartsWith("PROVISIONER-IGNITION-SHA256=", StringComparison.Ordinal));
        Assert.Equal(expected, hashLine["PROVISIONER-IGNITION-SHA256=".Length..]);
        Assert.Equal("sha256:" + expected, history[4].GetProperty("detail").GetString());
        await IgnitionSchema.AssertValidAsync(System.Text.Encoding.UTF8.GetString(served), "3.4.0");
    }
}
