using k8s;
using k8s.Models;
using Provisioner.Cluster;

namespace Provisioner.Tests.Cluster;

/// <summary>The YAML emitter: whatever string goes in comes back identical through KubernetesClient's loader.</summary>
public sealed class YamlEmitterTests
{
    [Theory]
    [InlineData("plain")]
    [InlineData("true")]
    [InlineData("yes")]
    [InlineData("null")]
    [InlineData("~")]
    [InlineData("10.96.0.10")]
    [InlineData("0x1F")]
    [InlineData("1e3")]
    [InlineData("key: value")]
    [InlineData("- item")]
    [InlineData("#comment")]
    [InlineData("'quoted'")]
    [InlineData("\"dq\"")]
    [InlineData("trailing:")]
    [InlineData("")]
    [InlineData(" leading space")]
    [InlineData("line one\nline two\n")]
    [InlineData("no final newline\nsecond")]
    [InlineData("two final newlines\n\n")]
    [InlineData("  indented first\nsecond\n")]
    [InlineData("trailing space \nsecond\n")]
    [InlineData("tab\there\n")]
    [InlineData("unicode: ü ☃ \u0001")]
    [InlineData("--flag=https://x:6443")]
    public void Strings_round_trip_through_the_kubernetes_yaml_loader(string value)
    {
        var map = new V1ConfigMap
        {
            ApiVersion = "v1",
            Kind = "ConfigMap",
            Metadata = new V1ObjectMeta { Name = "t", Labels = new Dictionary<string, string> { ["example.com/key"] = "v" } },
            Data = new Dictionary<string, string> { ["value"] = value, [value.Length == 0 ? "empty" : "k"] = "x" },
        };
        var yaml = YamlEmitter.Serialize(map);
        var loaded = Assert.IsType<V1ConfigMap>(Assert.Single(KubernetesYaml.LoadAllFromString(yaml)));
        Assert.Equal(value, loaded.Data["value"]);
        Assert.Equal("v", loaded.Metadata.Labels["example.com/key"]);
    }

    [Fact]
    public void Numbers_booleans_empty_lists_and_nested_lists_keep_their_types()
    {
        var pod = new V1Pod
        {
            ApiVersion = "v1",
            Kind = "Pod",
            Metadata = new V1ObjectMeta { Name = "p" },
            Spec = new V1PodSpec
            {
                HostNetwork = true,
                Containers = [new V1Container { Name = "c", Command = [], Ports = [new V1ContainerPort { ContainerPort = 53, Protocol = "UDP" }] }],
                Tolerations = [new V1Toleration()],
            },
        };
        var loaded = Assert.IsType<V1Pod>(Assert.Single(KubernetesYaml.LoadAllFromString(YamlEmitter.Serialize(pod))));
        Assert.True(loaded.Spec.HostNetwork);
        Assert.Equal(53, loaded.Spec.Containers[0].Ports[0].ContainerPort);
        Assert.Single(loaded.Spec.Tolerations);
    }
}
