using Provisioner.Profiles;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Profiles;

/// <summary>
/// <c>installDisk</c> (on a machine or a role) must be an absolute, clean /dev path, and <c>boot.localBoot</c> plain
/// iPXE lines; anything else is an error at file:line:column naming the field.
/// </summary>
public sealed class InstallDiskValidationTests : IDisposable
{
    private readonly ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private ProfileDiagnostic OnlyProblem()
    {
        var (set, diagnostics) = ProfileLoader.TryLoad(_tree.Sources);
        Assert.Null(set);
        return Assert.Single(diagnostics);
    }

    /// <summary>1-based line of the first line of <paramref name="file"/> that is <paramref name="text"/> (indentation aside).</summary>
    private int LineOf(string file, string text) =>
        Array.FindIndex(File.ReadAllLines(_tree.ProfileFile(file)), l => l.Trim() == text) + 1;

    [Theory]
    [InlineData("vda", "is not an absolute device path under /dev/")]
    [InlineData("/dev/", "is not an absolute device path under /dev/")]
    [InlineData("/tmp/disk.img", "is not an absolute device path under /dev/")]
    [InlineData("/dev/../etc/passwd", "is not a clean path")]
    [InlineData("/dev//sda", "is not a clean path")]
    [InlineData("/dev/disk/by-id/", "is not a clean path")]
    [InlineData("\"/dev/sda console=ttyS1\"", "contains characters a device path on the kernel command line cannot carry")]
    [InlineData("/dev/${disk}", "contains characters a device path on the kernel command line cannot carry")]
    public void A_machines_installDisk_that_is_not_an_absolute_dev_path_is_an_error_at_its_place(string disk, string reason)
    {
        _tree.Edit("machines.yaml", "    installDisk: /dev/vda\n    labels:", $"    installDisk: {disk}\n    labels:");
        var problem = OnlyProblem();
        Assert.EndsWith("machines.yaml", problem.File);
        Assert.Equal("machines[2].installDisk", problem.Field);
        Assert.Equal(LineOf("machines.yaml", "installDisk: " + disk), problem.Line);
        Assert.Equal(18, problem.Column);
        Assert.Contains(reason, problem.Message);
    }

    [Fact]
    public void A_roles_installDisk_is_checked_the_same_way()
    {
        _tree.Edit("roles.yaml", "    ignition:\n      template: worker\n", "    ignition:\n      template: worker\n    installDisk: sda\n");
        var problem = OnlyProblem();
        Assert.EndsWith("roles.yaml", problem.File);
        Assert.Equal("roles.worker.installDisk", problem.Field);
        Assert.Equal(LineOf("roles.yaml", "installDisk: sda"), problem.Line);
        Assert.Equal(18, problem.Column);
        Assert.Contains("'sda' is not an absolute device path under /dev/", problem.Message);
    }

    [Theory]
    [InlineData("[\"#!ipxe\", exit]", "leave out the '#!ipxe' header")]
    [InlineData("[]", "no iPXE lines")]
    public void A_roles_localBoot_must_be_plain_ipxe_lines(string lines, string reason)
    {
        _tree.Edit("roles.yaml", "      initrd: [fcos/initramfs.img]\n      args: [coreos.live.rootfs_url=http://192.0.2.1:8080/assets/fcos/rootfs.img]\n    ignition:\n      template: worker\n",
            $"      initrd: [fcos/initramfs.img]\n      args: [coreos.live.rootfs_url=http://192.0.2.1:8080/assets/fcos/rootfs.img]\n      localBoot: {lines}\n    ignition:\n      template: worker\n");
        var problem = OnlyProblem();
        Assert.Equal("roles.worker.boot.localBoot", problem.Field);
        Assert.Equal(LineOf("roles.yaml", $"localBoot: {lines}"), problem.Line);
        Assert.Contains(reason, problem.Message);
    }

    [Fact]
    public void Device_paths_by_id_path_and_label_are_accepted()
    {
        _tree.Edit("machines.yaml", "    installDisk: /dev/vda\n    labels:", "    installDisk: /dev/disk/by-id/nvme-Samsung_SSD_980_1TB_S649NF0R123456K\n    labels:");
        var (set, diagnostics) = ProfileLoader.TryLoad(_tree.Sources);
        Assert.Empty(diagnostics);
        Assert.Equal("/dev/disk/by-id/nvme-Samsung_SSD_980_1TB_S649NF0R123456K", set!.InstallDiskOf(set.FindMachine("worker-0")!));
    }
}
