using Provisioner.Approval;
using Provisioner.Cli;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Approval;

/// <summary>Where the approver's kubeconfig and switches come from: flags &gt; PROVISIONER_KUBECONFIG &gt; provisioner.yaml.</summary>
public sealed class ApproverSettingsTests : IDisposable
{
    private readonly ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void Kubeconfig_flag_wins_over_environment_which_wins_over_the_file()
    {
        var file = Path.Combine(_tree.Root, "provisioner.yaml");
        File.WriteAllText(file, "kubeconfig: /from/file\n");
        var fromFile = Settings.FromFile(file, explicitlyGiven: true);
        var fromEnv = Settings.FromEnvironment(name => name == "PROVISIONER_KUBECONFIG" ? "/from/env" : null);

        Assert.Equal("/from/file", Settings.Resolve(new SettingsLayer(), new SettingsLayer(), fromFile).Approver.Kubeconfig);
        Assert.Equal("/from/env", Settings.Resolve(new SettingsLayer(), fromEnv, fromFile).Approver.Kubeconfig);
        Assert.Equal("/from/flag", Settings.Resolve(new SettingsLayer(Kubeconfig: "/from/flag"), fromEnv, fromFile).Approver.Kubeconfig);
    }

    [Fact]
    public void Without_a_kubeconfig_setting_the_rendered_one_is_used_when_it_exists()
    {
        var clusterDir = Path.Combine(_tree.Root, "cluster");
        var options = new ApproverOptions();
        Assert.Null(options.ResolveKubeconfig(clusterDir).Path);

        Directory.CreateDirectory(Path.Combine(clusterDir, "auth"));
        File.WriteAllText(ApproverOptions.DefaultKubeconfig(clusterDir), "");
        Assert.Equal(Path.Combine(clusterDir, "auth", "provisioner-approver.kubeconfig"), options.ResolveKubeconfig(clusterDir).Path);
    }

    [Fact]
    public void Lease_identity_is_the_host_name_and_a_hash_of_the_cluster_directory_the_same_for_every_start()
    {
        static string IdentityOf(string clusterDir)
        {
            var options = Settings.Resolve(new SettingsLayer(ClusterDir: clusterDir));
            return options.Approver.ForCluster(options.ResolvedClusterDirectory).Identity!;
        }
        var clusterDir = Path.Combine(_tree.Root, "cluster");

        Assert.Equal(IdentityOf(clusterDir), IdentityOf(clusterDir));
        Assert.Equal(IdentityOf(clusterDir), IdentityOf(clusterDir + "/"));
        Assert.NotEqual(IdentityOf(clusterDir), IdentityOf(Path.Combine(_tree.Root, "other-cluster")));
        Assert.Matches($"^{System.Text.RegularExpressions.Regex.Escape(Environment.MachineName.ToLowerInvariant())}-[0-9a-f]{{8}}$", IdentityOf(clusterDir));
        Assert.Equal("given", new ApproverOptions { Identity = "given" }.ForCluster(clusterDir).Identity);
    }

    [Fact]
    public void Flags_turn_the_approver_off_and_forged_csrs_into_denials()
    {
        Assert.False(Settings.Resolve(new SettingsLayer(NoApprover: "true")).Approver.Enabled);
        Assert.True(Settings.Resolve(new SettingsLayer(DenyForged: "true")).Approver.Policy.DenyForged);
        Assert.False(Settings.Resolve(new SettingsLayer()).Approver.Policy.DenyForged);
        Assert.True(Settings.Resolve(new SettingsLayer()).Approver.Enabled);
    }

    [Fact]
    public async Task Serve_with_a_kubeconfig_that_does_not_exist_fails_with_one_line()
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exit = await CommandLine.InvokeAsync(
            ["serve", "--profiles", _tree.Profiles, "--assets", _tree.Assets, "--kubeconfig", "/nonexistent/approver.kubeconfig"],
            stdout, stderr, _ => null, TestContext.Current.CancellationToken);

        Assert.Equal(1, exit);
        Assert.Equal("error: --kubeconfig: '/nonexistent/approver.kubeconfig' does not exist\n", stderr.ToString());
    }
}
