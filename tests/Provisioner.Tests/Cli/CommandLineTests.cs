using Provisioner.Cli;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Cli;

public sealed class CommandLineTests : IDisposable
{
    private readonly ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private static Task<CliResult> RunAsync(Dictionary<string, string>? env, params string[] args) => CliRun.RunAsync(args, env);

    [Fact]
    public async Task ValidateAcceptsTheExampleProfiles()
    {
        var (exit, output, _) = await RunAsync(null, "validate", "--profiles", _tree.Profiles);
        Assert.Equal(0, exit);
        Assert.Contains("ok: cluster demo, 3 roles, 3 machines", output);
    }

    [Fact]
    public async Task ValidatePrintsEveryProblemAndExitsOne()
    {
        _tree.Edit("machines.yaml", "mac: 52:54:00:00:30:01", "mac: 52:54:00:00:30:0x");
        _tree.Edit("cluster.yaml", "kubernetesVersion: v1.31.2", "kubernetesVersion: 1.31");
        var (exit, _, errors) = await RunAsync(null, "validate", "--profiles", _tree.Profiles);
        Assert.Equal(1, exit);
        Assert.Matches(@"machines\.yaml:\d+:12: machines\[2\]\.select\.mac: '52:54:00:00:30:0x' is not a MAC address", errors);
        Assert.Matches(@"cluster\.yaml:\d+:22: cluster\.kubernetesVersion: '1\.31' is not a Kubernetes version", errors);
        Assert.Contains("2 problem(s) found.", errors);
    }

    [Fact]
    public async Task EnvironmentProvidesTheProfilesDirectory()
    {
        var (exit, output, _) = await RunAsync(new() { ["PROVISIONER_PROFILES"] = _tree.Profiles }, "validate");
        Assert.Equal(0, exit);
        Assert.Contains("3 machines", output);
    }

    [Fact]
    public async Task FlagWinsOverEnvironment()
    {
        var (exit, _, errors) = await RunAsync(new() { ["PROVISIONER_PROFILES"] = _tree.Profiles }, "validate", "--profiles", "/nonexistent");
        Assert.Equal(1, exit);
        Assert.Contains("the profiles directory does not exist", errors);
    }

    [Fact]
    public async Task ConfigFileProvidesDefaults()
    {
        var config = Path.Combine(_tree.Root, "provisioner.yaml");
        File.WriteAllText(config, $"profiles: {_tree.Profiles}\n");
        var (exit, output, _) = await RunAsync(null, "validate", "--config", config);
        Assert.Equal(0, exit);
        Assert.Contains("3 machines", output);
    }

    [Fact]
    public async Task UnknownConfigFileSettingIsAnError()
    {
        var config = Path.Combine(_tree.Root, "provisioner.yaml");
        File.WriteAllText(config, "profile: x\n");
        var (exit, _, errors) = await RunAsync(null, "validate", "--config", config);
        Assert.Equal(1, exit);
        Assert.Contains("unknown setting 'profile'", errors);
    }

    [Fact]
    public async Task IpxePrintsTheMachineScript()
    {
        var (exit, output, _) = await RunAsync(null, "ipxe", "worker-0", "--profiles", _tree.Profiles);
        Assert.Equal(0, exit);
        Assert.Contains("kernel http://192.0.2.1:8080/assets/fcos/kernel?mac=52-54-00-00-30-01 ", output);
    }

    [Fact]
    public async Task IgnitionPrintsTheConfig()
    {
        var (exit, output, _) = await RunAsync(null, "ignition", "cp-0", "--profiles", _tree.Profiles);
        Assert.Equal(0, exit);
        Assert.Contains("\"version\": \"3.4.0\"", output);
    }

    [Fact]
    public async Task UnknownMachineNameIsAnError()
    {
        var (exit, _, errors) = await RunAsync(null, "ignition", "nope", "--profiles", _tree.Profiles);
        Assert.Equal(1, exit);
        Assert.Contains("no machine named 'nope'", errors);
    }

    [Theory]
    [InlineData("127.0.0.1")]
    [InlineData("::1:80")]
    [InlineData("localhost:80")]
    [InlineData("127.0.0.1:99999")]
    public async Task MalformedListenAddressIsRejected(string listen)
    {
        var (exit, _, errors) = await RunAsync(null, "serve", "--profiles", _tree.Profiles, "--assets", _tree.Assets, "--listen", listen);
        Assert.Equal(1, exit);
        Assert.Contains("--listen", errors);
    }

    [Fact]
    public async Task HelpExplainsTheCommands()
    {
        var (exit, output, _) = await RunAsync(null, "--help");
        Assert.Equal(0, exit);
        foreach (var command in new[] { "serve", "validate", "ipxe", "ignition" }) Assert.Contains(command, output);
    }
}
