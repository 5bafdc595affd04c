using Provisioner.Cli;
using Provisioner.Release;

namespace Provisioner.Tests.Release;

/// <summary>Where the release store is: flag &gt; PROVISIONER_STORE &gt; provisioner.yaml &gt; release-store/ beside the profiles.</summary>
public sealed class StoreSettingsTests : IDisposable
{
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("provisioner-store-settings-");

    public void Dispose() => _work.Delete(recursive: true);

    [Fact]
    public void Without_any_setting_the_store_is_release_store_beside_the_profiles()
    {
        var options = Settings.Resolve(new SettingsLayer(Profiles: Path.Combine(_work.FullName, "profiles")));

        Assert.Equal(Path.Combine(_work.FullName, "release-store"), ReleaseStoreLocation.Resolve(options.StoreDirectory, options.ProfilesDirectory));
    }

    [Fact]
    public void The_flag_wins_over_the_environment_which_wins_over_the_file()
    {
        var file = Path.Combine(_work.FullName, "provisioner.yaml");
        File.WriteAllText(file, "store: /from/file\n");

        var fromFile = Settings.Resolve(new SettingsLayer(), Settings.FromEnvironment(_ => null), Settings.FromFile(file, true));
        var fromEnv = Settings.Resolve(new SettingsLayer(), Settings.FromEnvironment(n => n == "PROVISIONER_STORE" ? "/from/env" : null), Settings.FromFile(file, true));
        var fromFlag = Settings.Resolve(new SettingsLayer(Store: "/from/flag"), Settings.FromEnvironment(n => n == "PROVISIONER_STORE" ? "/from/env" : null), Settings.FromFile(file, true));

        Assert.Equal(("/from/file", "/from/env", "/from/flag"), (fromFile.StoreDirectory, fromEnv.StoreDirectory, fromFlag.StoreDirectory));
    }
}
