using System.Text.Json;
using Provisioner.Tests.Ignition;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Boot.Qemu;

/// <summary>
/// What every network-boot test proves once the VM runs: the test initramfs followed its pointer config to the real
/// config over TLS (trusting only the pinned CA), reported with that config's report key, and the server recorded the
/// whole chain in order. Shared by the user-network and the PXE boot tests.
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

    /// <summary>
    /// The VM followed its pointer config to the real config over TLS and reported with the real config's report key
    /// (which the server accepts only from the machine it delivered that config to); the server saw the chain in order.
    /// </summary>
    /// <param name="get">GET a path (with query) from the server the VM booted from; the body's bytes.</param>
    public static async Task AssertBootedToIgnitionAsync(QemuVm vm, string name, string mac, Func<string, Task<byte[]>> get,
        TimeSpan budget, CancellationToken ct)
    {
        var verdict = await vm.WaitForConsoleLineAsync(
            l => l.StartsWith("PROVISIONER-REPORTED", StringComparison.Ordinal) || l.StartsWith("PROVISIONER-FAILED", StringComparison.Ordinal),
            budget, ct);
        Assert.True(verdict.StartsWith("PROVISIONER-REPORTED", StringComparison.Ordinal), $"guest failed: {verdict}\n{vm.Diagnostics()}");
        Assert.Equal(0, await vm.WaitForExitAsync(TimeSpan.FromSeconds(60), ct));

        // The server saw the whole chain for this machine, in order: the pointer over plain HTTP, then the real config over TLS.
        using var machines = JsonDocument.Parse(await get("/api/v1/machines"));
        var machine = machines.RootElement.GetProperty("machines").EnumerateArray()
            .Single(m => m.TryGetProperty("name", out var n) && n.GetString() == name);
        var history = machine.GetProperty("history").EnumerateArray().ToList();
        Assert.Equal(["ipxe", "kernel", "initrd", "ignition", "ignition", "ignition-fetched"], history.Select(e => e.GetProperty("stage").GetString()!));
        Assert.EndsWith(", pointer", history[3].GetProperty("detail").GetString());
        Assert.EndsWith(", config over TLS", history[4].GetProperty("detail").GetString());

        // What the machine hashed is the real config (not the pointer), in the spec its Accept header asked for.
        var pointerHash = vm.ConsoleLines.Single(l => l.StartsWith("PROVISIONER-POINTER-SHA256=", StringComparison.Ordinal));
        var hash = vm.ConsoleLines.Single(l => l.StartsWith("PROVISIONER-IGNITION-SHA256=", StringComparison.Ordinal))["PROVISIONER-IGNITION-SHA256=".Length..];
        Assert.NotEqual(pointerHash["PROVISIONER-POINTER-SHA256=".Length..], hash);
        Assert.Equal("sha256:" + hash, history[5].GetProperty("detail").GetString());
        Assert.Contains("PROVISIONER-IGNITION-VERSION=3.4.0", vm.ConsoleLines);
        Assert.DoesNotContain(vm.ConsoleLines, l => l.StartsWith("PROVISIONER-", StringComparison.Ordinal) && l.Contains("ticket=", StringComparison.Ordinal));

        // The pointer the server hands out for the machine is valid Ignition 3.4.0 and holds no secret.
        var pointer = System.Text.Encoding.UTF8.GetString(await get($"/ignition?mac={mac.Replace(':', '-')}"));
        await IgnitionSchema.AssertValidAsync(pointer, "3.4.0");
        Assert.DoesNotContain("\"storage\"", pointer);
    }
}
