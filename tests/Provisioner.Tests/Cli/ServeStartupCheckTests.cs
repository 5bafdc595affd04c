using Provisioner.Tests.Support;

namespace Provisioner.Tests.Cli;

/// <summary>
/// <c>provisioner serve</c> with settings that are well-formed but wrong for this host: the server stops at start,
/// before binding anything, with one line per problem naming its flag.
/// </summary>
public sealed class ServeStartupCheckTests : IDisposable
{
    private readonly ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    [Fact]
    public async Task A_missing_ipxe_directory_is_one_line_naming_the_flag_and_exit_code_one()
    {
        var (exit, _, errors) = await CliRun.RunAsync(
            ["serve", "--profiles", _tree.Profiles, "--assets", _tree.Assets, "--no-approver", "--tftp", "127.0.0.1:0", "--ipxe-dir", "/nope"], null);

        Assert.Equal(1, exit);
        Assert.Equal("error: --ipxe-dir: '/nope' does not exist; install Debian's 'ipxe' package or point --ipxe-dir at a directory holding them\n", errors);
    }

    [Fact]
    public async Task Every_setting_wrong_for_this_host_is_reported_at_once()
    {
        var (exit, _, errors) = await CliRun.RunAsync(
            ["serve", "--profiles", _tree.Profiles, "--assets", "/nonexistent/assets", "--kubeconfig", "/nonexistent/kubeconfig",
             "--tftp", "127.0.0.1:0", "--ipxe-dir", "/nope"], null);

        Assert.Equal(1, exit);
        Assert.Equal(
            [
                "error: --assets: the assets directory '/nonexistent/assets' does not exist",
                "error: --kubeconfig: '/nonexistent/kubeconfig' does not exist",
                "error: --ipxe-dir: '/nope' does not exist; install Debian's 'ipxe' package or point --ipxe-dir at a directory holding them",
            ],
            errors.TrimEnd('\n').Split('\n'));
    }
}
