using Provisioner.Tests.Support;

namespace Provisioner.Tests.Fcos;

/// <summary>
/// The test machines of <c>../shared/machines</c> (README there). Test classes that boot one in <c>MACHINES_NET=host</c>
/// mode share the host's network namespace, so they run one at a time: they share this collection.
/// </summary>
[CollectionDefinition(Collection)]
public sealed class TestMachines
{
    public const string Collection = "test machines (host network)";

    /// <summary>Where machines keep their state (<c>MACHINES_HOME</c>, default as in the README).</summary>
    public static string Home => Environment.GetEnvironmentVariable("MACHINES_HOME") is { Length: > 0 } home ? home : "/var/lib/provisioner-test-machines";

    /// <summary>The scripts' directory; skips (fails under CI) when a prerequisite is missing.</summary>
    public static string Directory()
    {
        var machines = Path.GetDirectoryName(RepoPaths.SharedFile("machines/mkmachine.sh"))!;
        Requires.Root();
        Requires.Program("systemd-nspawn", "systemd-container");
        Requires.Condition(File.Exists("/usr/lib/dracut/modules.d/30ignition/ignition"), "Ignition is not installed (apt-get install ignition)");
        Requires.Condition(System.IO.Directory.Exists("/sys/fs/cgroup/systemd"), "the test machines need a cgroup v1/hybrid host (/sys/fs/cgroup/systemd)");
        return machines;
    }

    /// <summary>Builds the golden root once (a no-op when it is up to date).</summary>
    public static async Task EnsureGoldenAsync(string machines, CancellationToken ct)
    {
        var golden = await Proc.RunAsync("bash", [Path.Combine(machines, "build-golden.sh")], ct);
        Assert.True(golden.Exit == 0, golden.Output);
    }
}
