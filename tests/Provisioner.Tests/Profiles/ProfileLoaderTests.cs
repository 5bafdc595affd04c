using Provisioner.Profiles;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Profiles;

public sealed class ProfileLoaderTests : IDisposable
{
    private readonly ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private IReadOnlyList<ProfileDiagnostic> Problems()
    {
        var (set, diagnostics) = ProfileLoader.TryLoad(_tree.Sources);
        Assert.Null(set);
        Assert.NotEmpty(diagnostics);
        return diagnostics;
    }

    /// <summary>1-based line of the first line of <paramref name="file"/> containing <paramref name="text"/>.</summary>
    private int LineOf(string file, string text) =>
        Array.FindIndex(File.ReadAllLines(_tree.ProfileFile(file)), l => l.Contains(text, StringComparison.Ordinal)) + 1;

    private static ProfileDiagnostic Single(IReadOnlyList<ProfileDiagnostic> problems, string field) =>
        Assert.Single(problems, p => p.Field == field);

    [Fact]
    public void BundledExampleProfilesAreValid()
    {
        var set = ProfileLoader.Load(new ProfileSources(Path.Combine(RepoPaths.Root, "profiles"), Path.Combine(RepoPaths.Root, "ignition-templates")));
        Assert.Equal("demo", set.Cluster.Name);
        Assert.Equal(["bootstrap", "control-plane", "worker"], set.Roles.Keys.Order());
        Assert.Equal(3, set.Machines.Length);
    }

    [Fact]
    public void UnknownKeyIsReportedWithFileLineColumnAndField()
    {
        _tree.Edit("machines.yaml", "    installDisk: /dev/vda\n    labels:", "    installDisk: /dev/vda\n    instalDisk: /dev/sdb\n    labels:");
        var problem = Single(Problems(), "machines[2].instalDisk");
        Assert.EndsWith("machines.yaml", problem.File);
        Assert.Equal(LineOf("machines.yaml", "instalDisk"), problem.Line);
        Assert.Equal(5, problem.Column);
        Assert.Contains("did you mean 'installDisk'", problem.Message);
    }

    [Fact]
    public void MalformedMacNamesTheValue()
    {
        _tree.Edit("machines.yaml", "mac: 52:54:00:00:30:01", "mac: 52:54:00:00:30:zz");
        var problem = Single(Problems(), "machines[2].select.mac");
        Assert.Equal(LineOf("machines.yaml", "52:54:00:00:30:zz"), problem.Line);
        Assert.Equal(12, problem.Column);
        Assert.Contains("'52:54:00:00:30:zz' is not a MAC address", problem.Message);
    }

    [Fact]
    public void A_bad_mac_that_is_the_only_selector_is_the_only_problem()
    {
        // bootstrap-0 selects by MAC alone: the bad MAC must not also yield "at least one selector is needed".
        _tree.Edit("machines.yaml", "mac: 52:54:00:00:10:01", "mac: 52:54:00:00:10:0g");
        var problem = Assert.Single(Problems());
        Assert.Equal("machines[0].select.mac", problem.Field);
        Assert.Equal(LineOf("machines.yaml", "52:54:00:00:10:0g"), problem.Line);
        Assert.Equal(12, problem.Column);
        Assert.Matches(@"machines\.yaml:\d+:12: machines\[0\]\.select\.mac: '52:54:00:00:10:0g' is not a MAC address", problem.ToString());
    }

    [Fact]
    public void A_bad_uuid_that_is_the_only_selector_is_the_only_problem()
    {
        _tree.Edit("machines.yaml", "mac: 52:54:00:00:10:01", "uuid: not-a-uuid");
        Assert.Equal("machines[0].select.uuid", Assert.Single(Problems()).Field);
    }

    [Theory]
    [InlineData("00000000-0000-0000-0000-000000000000")]
    [InlineData("FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF")]
    public void A_placeholder_uuid_is_refused_as_a_selector(string uuid)
    {
        _tree.Edit("machines.yaml", "mac: 52:54:00:00:10:01", $"uuid: {uuid}");
        var problem = Assert.Single(Problems());
        Assert.Equal("machines[0].select.uuid", problem.Field);
        Assert.Contains("placeholders", problem.Message);
    }

    [Fact]
    public void No_selector_at_all_is_still_reported()
    {
        _tree.Edit("machines.yaml", "mac: 52:54:00:00:10:01", "mac: []");
        Assert.Contains("at least one selector is needed", Single(Problems(), "machines[0].select").Message);
    }

    [Fact]
    public void MalformedCidrIsReported()
    {
        _tree.Edit("cluster.yaml", "podCidr: 10.244.0.0/16", "podCidr: 10.244.0.0/33");
        var problem = Single(Problems(), "cluster.podCidr");
        Assert.Contains("is not a CIDR", problem.Message);
    }

    [Fact]
    public void MalformedIpIsReported()
    {
        _tree.Edit("machines.yaml", "gateway: 192.0.2.1\n      dns: [192.0.2.1]\n    installDisk: /dev/vda\n\n  - name: cp-0",
            "gateway: 192.0.2.300\n      dns: [192.0.2.1]\n    installDisk: /dev/vda\n\n  - name: cp-0");
        var problem = Single(Problems(), "machines[0].network.gateway");
        Assert.Contains("'192.0.2.300' is not an IP address", problem.Message);
    }

    [Fact]
    public void GatewayOutsideTheMachinesSubnetIsReported()
    {
        _tree.Edit("machines.yaml", "address: 192.0.2.21/24\n      gateway: 192.0.2.1", "address: 192.0.2.21/24\n      gateway: 198.51.100.1");
        var problem = Single(Problems(), "machines[1].network.gateway");
        Assert.Contains("outside the machine's subnet 192.0.2.0/24", problem.Message);
    }

    [Fact]
    public void DuplicateMachineNamesAreReported()
    {
        _tree.Edit("machines.yaml", "- name: worker-0", "- name: cp-0");
        var problem = Single(Problems(), "machines[2].name");
        Assert.Contains("'cp-0' is already used at", problem.Message);
    }

    [Fact]
    public void TwoMachinesClaimingTheSameMacIsAValidationError()
    {
        _tree.Edit("machines.yaml", "mac: 52:54:00:00:30:01", "mac: 52:54:00:00:20:02");
        var problem = Single(Problems(), "machines[2].select.mac");
        Assert.Contains("mac 52:54:00:00:20:02 is also claimed by machine 'cp-0'", problem.Message);
    }

    [Fact]
    public void SelectorsAreComparedAcrossFiles()
    {
        _tree.Write("extra.yaml", "machines:\n  - name: worker-1\n    role: worker\n    select:\n      serial: DEMO-W0\n");
        // extra.yaml is read first (files load in name order), so worker-0 is the second claimant.
        var problem = Single(Problems(), "machines[2].select.serial");
        Assert.EndsWith("machines.yaml", problem.File);
        Assert.Contains("serial 'DEMO-W0' is also claimed by machine 'worker-1' at", problem.Message);
        Assert.Contains("extra.yaml:2:5", problem.Message);
    }

    [Fact]
    public void MissingRoleIsReported()
    {
        _tree.Edit("machines.yaml", "role: worker", "role: workers");
        var problem = Single(Problems(), "machines[2].role");
        Assert.Contains("role 'workers' does not exist (defined roles: bootstrap, control-plane, worker)", problem.Message);
    }

    [Fact]
    public void MissingTemplateIsReported()
    {
        _tree.Edit("roles.yaml", "template: worker", "template: wrker");
        var problem = Single(Problems(), "roles.worker.ignition.template");
        Assert.Contains("template 'wrker' does not exist", problem.Message);
    }

    [Fact]
    public void EveryProblemIsReportedNotJustTheFirst()
    {
        _tree.Edit("machines.yaml", "mac: 52:54:00:00:30:01", "mac: nope");
        _tree.Edit("cluster.yaml", "serviceCidr: 10.96.0.0/12", "serviceCidr: banana");
        _tree.Edit("roles.yaml", "effect: NoSchedule", "effect: Sometimes");
        var fields = Problems().Select(p => p.Field).ToList();
        Assert.Contains("machines[2].select.mac", fields);
        Assert.Contains("cluster.serviceCidr", fields);
        Assert.Contains("roles.control-plane.taints[0].effect", fields);
    }

    [Fact]
    public void YamlSyntaxErrorNamesTheLine()
    {
        _tree.Write("broken.yaml", "machines:\n  - name: a\n    role: [worker\n");
        var problem = Single(Problems(), "(yaml)");
        Assert.EndsWith("broken.yaml", problem.File);
        Assert.True(problem.Line >= 3, $"line {problem.Line}");
    }

    [Fact]
    public void StaticAddressInsidePodCidrIsRejected()
    {
        _tree.Edit("machines.yaml", "address: 192.0.2.21/24\n      gateway: 192.0.2.1", "address: 10.244.1.5/24\n      gateway: 10.244.1.1");
        var problem = Single(Problems(), "machines[1].network.address");
        Assert.Contains("inside the cluster's pod or service CIDR", problem.Message);
    }

    [Fact]
    public void KernelPathMayNotLeaveTheAssetsDirectory()
    {
        _tree.Edit("roles.yaml", "  worker:\n    boot:\n      kernel: fcos/kernel", "  worker:\n    boot:\n      kernel: ../../etc/passwd");
        var problem = Single(Problems(), "roles.worker.boot.kernel");
        Assert.Contains("clean path below the assets directory", problem.Message);
    }

    [Fact]
    public void MachineWithoutSelectorsIsRejected()
    {
        _tree.Write("extra.yaml", "machines:\n  - name: worker-9\n    role: worker\n    select: {}\n");
        var problem = Single(Problems(), "machines[0].select");
        Assert.Contains("at least one selector", problem.Message);
    }

    [Fact]
    public void SecondClusterSectionIsRejected()
    {
        _tree.Write("other.yaml", "cluster:\n  name: other\n  baseDomain: example.test\n  kubernetesVersion: v1.31.2\n  podCidr: 10.0.0.0/16\n  serviceCidr: 10.1.0.0/16\n");
        var problem = Single(Problems(), "cluster");
        Assert.Contains("a second 'cluster' section", problem.Message);
    }
}
