using System.Text;
using Provisioner.Cluster;
using Provisioner.Ignition;
using Provisioner.Tests.Support;
using YamlDotNet.RepresentationModel;
using Provisioner.Profiles;

namespace Provisioner.Tests.Cluster;

/// <summary>
/// What each supported Kubernetes minor's kubelet is given: the KubeletConfiguration and kubelet.service of the
/// example's bootstrap, control-plane and worker machine, compared byte for byte with
/// <c>Golden/kubelet/v1.&lt;minor&gt;/&lt;machine&gt;.{kubelet-config.yaml,kubelet.service}</c>. A kubelet older than v1.27
/// refuses an unknown config field and needs its runtime as flags (issue 11), so every minor has its own files.
/// After an intended change, regenerate them with
/// <c>UPDATE_GOLDEN=1 dotnet test tests/Provisioner.Tests -c Release --no-build --filter "FullyQualifiedName~KubeletGoldenTests"</c>
/// and review the diff.
/// </summary>
public sealed class KubeletGoldenTests
{
    private const string ConfigPath = "/etc/kubernetes/kubelet-config.yaml";
    private const string RuntimeEndpoint = "unix:///run/containerd/containerd.sock";
    private static readonly string[] Machines = ["bootstrap-0", "cp-0", "worker-0"];
    private static readonly string[] JoiningMachines = ["cp-0", "worker-0"];

    private static string GoldenRoot => Path.Combine(RepoPaths.Root, "tests", "Provisioner.Tests", "Cluster", "Golden", "kubelet");
    private static bool Updating => Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1";

    public static TheoryData<int> SupportedMinors => [.. KubernetesReleases.Supported.Select(m => m.Minor)];

    /// <summary>The machine's kubelet files as the example profiles render them with <c>kubernetesVersion: v1.&lt;minor&gt;.0</c>.</summary>
    private static Dictionary<string, (string Config, string Unit)> Render(int minor)
    {
        using var tree = new ProfileTree();
        tree.Edit("cluster.yaml", "kubernetesVersion: v1.31.2", $"kubernetesVersion: v1.{minor}.0");
        return Machines.ToDictionary(m => m, m =>
        {
            var json = IgnitionJson.Serialize(tree.RenderIgnition(m, new Uri("http://192.0.2.1:8080/")));
            return (IgnitionFiles.Decode(json)[ConfigPath].Text, IgnitionFiles.Unit(json, "kubelet.service"));
        });
    }

    /// <summary>The kubelet's flags, one per element: what the ExecStart's <c>podman run</c> passes after the image.</summary>
    private static string[] Flags(string unit) => KubeletUnit.Parse(unit).KubeletArgs;

    private static YamlMappingNode Yaml(string text)
    {
        var yaml = new YamlStream();
        yaml.Load(new StringReader(text));
        return (YamlMappingNode)yaml.Documents[0].RootNode;
    }

    private static string? Scalar(YamlMappingNode map, string key) =>
        map.Children.TryGetValue(new YamlScalarNode(key), out var node) ? ((YamlScalarNode)node).Value : null;

    private static void AssertMatchesGolden(string relative, string rendered)
    {
        var path = Path.Combine(GoldenRoot, relative);
        var bytes = Encoding.UTF8.GetBytes(rendered);
        if (Updating)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllBytes(path, bytes);
            return;
        }
        if (!File.Exists(path)) Assert.Fail($"{path} does not exist; render it with UPDATE_GOLDEN=1 (see {nameof(KubeletGoldenTests)}) and review it");
        if (!File.ReadAllBytes(path).AsSpan().SequenceEqual(bytes))
            Assert.Fail($"{relative} differs from what is rendered now (UPDATE_GOLDEN=1 rewrites it):\n--- golden\n{File.ReadAllText(path)}\n--- rendered\n{rendered}");
    }

    [Theory]
    [MemberData(nameof(SupportedMinors))]
    public void Kubelet_config_and_unit_are_byte_for_byte_the_golden_files_of_that_minor(int minor)
    {
        foreach (var (machine, (config, unit)) in Render(minor))
        {
            AssertMatchesGolden($"v1.{minor}/{machine}.kubelet-config.yaml", config);
            AssertMatchesGolden($"v1.{minor}/{machine}.kubelet.service", unit);
        }
    }

    [Fact]
    public void There_are_golden_files_for_exactly_the_supported_minors()
    {
        if (Updating)
        {
            // The theory writes the supported minors' files; this removes those of minors no longer supported.
            Directory.CreateDirectory(GoldenRoot);
            foreach (var stale in Directory.EnumerateDirectories(GoldenRoot).Where(d => KubernetesReleases.Supported.All(m => m.Name != Path.GetFileName(d))))
                Directory.Delete(stale, recursive: true);
            return;
        }

        Assert.Equal(KubernetesReleases.Supported.Select(m => m.Name).Order(StringComparer.Ordinal),
            Directory.EnumerateDirectories(GoldenRoot).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData(24)]
    [InlineData(25)]
    [InlineData(26)]
    public void Before_v1_27_the_runtime_endpoint_is_a_flag_and_not_a_config_field(int minor)
    {
        foreach (var (_, (config, unit)) in Render(minor))
        {
            Assert.Null(Scalar(Yaml(config), "containerRuntimeEndpoint"));
            Assert.DoesNotContain("containerRuntimeEndpoint", config);
            Assert.Contains($"--container-runtime-endpoint={RuntimeEndpoint}", Flags(unit));
            // The flag that picks the CRI over dockershim exists until v1.26, as kubeadm of those minors passes it.
            Assert.Contains("--container-runtime=remote", Flags(unit));
        }
    }

    [Theory]
    [InlineData(27)]
    [InlineData(28)]
    [InlineData(31)]
    [InlineData(34)]
    public void From_v1_27_the_runtime_endpoint_is_a_config_field_and_not_a_flag(int minor)
    {
        foreach (var (_, (config, unit)) in Render(minor))
        {
            Assert.Equal(RuntimeEndpoint, Scalar(Yaml(config), "containerRuntimeEndpoint"));
            Assert.DoesNotContain(Flags(unit), f => f.StartsWith("--container-runtime", StringComparison.Ordinal));
        }
    }

    [Theory]
    [MemberData(nameof(SupportedMinors))]
    public void No_kubelet_gets_the_deprecated_rotate_certificates_flag_and_joining_ones_rotate_by_config(int minor)
    {
        var rendered = Render(minor);

        Assert.All(rendered.Values, r => Assert.DoesNotContain("--rotate-certificates", r.Unit));
        Assert.All(JoiningMachines, m => Assert.Equal("true", Scalar(Yaml(rendered[m].Config), "rotateCertificates")));
    }
}
