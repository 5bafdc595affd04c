using Provisioner.Cli;

namespace Provisioner.Tests.Cli;

public sealed class SettingsTests
{
    [Fact]
    public void Cluster_directory_defaults_to_cluster_beside_the_profiles()
    {
        var options = Settings.Resolve(new SettingsLayer(Profiles: "/srv/site/profiles"));
        Assert.Equal("/srv/site/cluster", options.ResolvedClusterDirectory);
    }

    [Fact]
    public void Cluster_directory_flag_wins_over_environment()
    {
        var options = Settings.Resolve(new SettingsLayer(ClusterDir: "/flag"), new SettingsLayer(ClusterDir: "/env"));
        Assert.Equal("/flag", options.ResolvedClusterDirectory);
    }

    [Fact]
    public void Cluster_directory_is_read_from_the_environment()
    {
        var layer = Settings.FromEnvironment(name => name == "PROVISIONER_CLUSTER_DIR" ? "/var/lib/provisioner/cluster" : null);
        Assert.Equal("/var/lib/provisioner/cluster", Settings.Resolve(layer).ResolvedClusterDirectory);
    }
}
