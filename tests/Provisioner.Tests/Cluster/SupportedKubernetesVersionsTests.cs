using Provisioner.Cli;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Cluster;

/// <summary>
/// Provisioner renders Kubernetes v1.24 through v1.34 (one record per minor in KubernetesReleases); any other version is
/// a profile error naming that range, so <c>validate</c> reports it and <c>serve</c> does not start (issue 11).
/// </summary>
public sealed class SupportedKubernetesVersionsTests : IDisposable
{
    private readonly ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private void UseVersion(string version) => _tree.Edit("cluster.yaml", "kubernetesVersion: v1.31.2", $"kubernetesVersion: {version}");

    private static async Task<CliResult> RunAsync(params string[] args)
    {
        // A serve that wrongly starts would run until cancelled; stopping it after a minute turns that into a failure.
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        limit.CancelAfter(TimeSpan.FromMinutes(1));
        return await CliRun.RunAsync(args, cancellationToken: limit.Token);
    }

    [Theory]
    [InlineData("v1.23.17")]
    [InlineData("v1.35.0")]
    [InlineData("v1.40.1")]
    [InlineData("v2.0.0")]
    public async Task Validate_refuses_a_version_outside_the_supported_range_and_names_the_range(string version)
    {
        UseVersion(version);

        var (exit, _, errors) = await RunAsync("validate", "--profiles", _tree.Profiles);

        Assert.Equal(1, exit);
        var line = File.ReadLines(Path.Combine(_tree.Profiles, "cluster.yaml")).TakeWhile(l => !l.Contains("kubernetesVersion:")).Count() + 1;
        Assert.Matches($@"cluster\.yaml:{line}:22: cluster\.kubernetesVersion: '{version.Replace(".", @"\.")}' is not supported: " +
                       @"Provisioner renders Kubernetes v1\.24 through v1\.34 \(", errors);
        Assert.Contains("1 problem(s) found.", errors);
    }

    [Theory]
    [InlineData("v1.24.17")]
    [InlineData("v1.25.16")]
    [InlineData("v1.26.15")]
    [InlineData("v1.27.16")]
    [InlineData("v1.28.15")]
    [InlineData("v1.29.10")]
    [InlineData("v1.30.6")]
    [InlineData("v1.31.2")]
    [InlineData("v1.32.0")]
    [InlineData("v1.33.1")]
    [InlineData("v1.34.0")]
    public async Task Validate_accepts_every_supported_minor(string version)
    {
        UseVersion(version);

        var (exit, output, errors) = await RunAsync("validate", "--profiles", _tree.Profiles);

        Assert.Equal("", errors);
        Assert.Contains("ok: cluster demo", output);
        Assert.Equal(0, exit);
    }

    [Fact]
    public async Task Serve_does_not_start_with_an_unsupported_version()
    {
        UseVersion("v1.23.17");

        var (exit, _, errors) = await RunAsync("serve", "--profiles", _tree.Profiles, "--assets", _tree.Assets, "--no-approver", "--listen", "127.0.0.1:0");

        Assert.Equal(1, exit);
        Assert.Contains("cluster.kubernetesVersion: 'v1.23.17' is not supported: Provisioner renders Kubernetes v1.24 through v1.34", errors);
        Assert.Contains("not starting", errors);
    }
}
