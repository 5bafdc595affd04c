using System.Text.Json;
using Provisioner.Ignition;
using Provisioner.Profiles;
using Provisioner.Rendering;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Rendering;

public sealed class IgnitionRendererTests : IDisposable
{
    private static readonly Uri BaseUrl = new("http://192.0.2.1:8080/");
    private readonly ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private IgnitionConfig Render(string machine) => _tree.RenderIgnition(machine, BaseUrl);

    private static string Text(Resource r) => Uri.UnescapeDataString(r.Source!["data:,".Length..]);

    [Fact]
    public void HostnameFileHoldsTheMachineName() =>
        Assert.Equal("worker-0", Text(Render("worker-0").Storage!.Files!.Single(f => f.Path == "/etc/hostname").Contents!));

    [Fact]
    public void ModeWrittenInOctalIsOctal() =>
        Assert.Equal(0x1a4 /* 0644 */, Render("worker-0").Storage!.Files!.Single(f => f.Path == "/etc/hostname").Mode);

    [Fact]
    public void ListVariableExpandsIntoListItems()
    {
        _tree.Edit("cluster.yaml", "  sshAuthorizedKeys:\n", "  sshAuthorizedKeys:\n    - ssh-rsa AAAAB3second operator2@example.test\n");
        var keys = Render("worker-0").Passwd!.Users![0].SshAuthorizedKeys!;
        Assert.Equal(2, keys.Count);
        Assert.StartsWith("ssh-rsa AAAAB3second", keys[0]);
    }

    [Fact]
    public void ConditionalEntryIsLeftOutWhenFalse() =>
        Assert.DoesNotContain(Render("worker-0").Storage!.Files!, f => f.Path.Contains("NetworkManager"));

    [Fact]
    public void ProfileValuesCannotInjectStructure()
    {
        // A label value cannot carry YAML/JSON syntax into the config: only string values are templated.
        _tree.WriteTemplate("worker/config.yaml", """
            include: [common]
            storage:
              files:
                - path: /etc/injected
                  contents:
                    inline: "{{ machine.name }}\"}, {\"path\": \"/etc/shadow"
            """);
        var files = Render("worker-0").Storage!.Files!;
        Assert.DoesNotContain(files, f => f.Path == "/etc/shadow");
        Assert.Equal("worker-0\"}, {\"path\": \"/etc/shadow", Text(files.Single(f => f.Path == "/etc/injected").Contents!));
    }

    [Fact]
    public void LargeContentsAreGzipped()
    {
        _tree.WriteTemplate("worker/big.txt", string.Concat(Enumerable.Repeat("{{ machine.name }} line\n", 2000)));
        _tree.WriteTemplate("worker/config.yaml", "storage:\n  files:\n    - path: /etc/big\n      contents:\n        template: big.txt\n");
        var contents = Render("worker-0").Storage!.Files!.Single().Contents!;
        Assert.Equal("gzip", contents.Compression);
        Assert.StartsWith("data:;base64,", contents.Source);
    }

    [Fact]
    public void UnknownVariableIsAnErrorNamingTheFile()
    {
        _tree.WriteTemplate("worker/kubelet.service", "[Unit]\nDescription={{ machine.nmae }}\n");
        var e = Assert.Throws<TemplateException>(() => Render("worker-0"));
        Assert.EndsWith("kubelet.service", e.Location.File);
        Assert.Contains("'machine.nmae' is not defined", e.Reason);
    }

    [Fact]
    public void UnknownIgnitionKeyIsAnError()
    {
        _tree.WriteTemplate("worker/config.yaml", "storage:\n  filez: []\n");
        var e = Assert.Throws<TemplateException>(() => Render("worker-0"));
        Assert.Contains("filez", e.Message);
    }

    [Fact]
    public void IncludeCycleIsAnError()
    {
        _tree.WriteTemplate("common/config.yaml", "include: [worker]\n");
        var e = Assert.Throws<TemplateException>(() => Render("worker-0"));
        Assert.Contains("include cycle: worker → common → worker", e.Reason);
    }

    [Fact]
    public void TemplateFileNamesCannotBePaths()
    {
        _tree.WriteTemplate("worker/config.yaml", "storage:\n  files:\n    - path: /etc/x\n      contents:\n        template: ../common/static.nmconnection\n");
        var e = Assert.Throws<TemplateException>(() => Render("worker-0"));
        Assert.Contains("must be the name of a file beside config.yaml", e.Reason);
    }

    [Fact]
    public void YamlErrorInTemplateNamesLine()
    {
        _tree.WriteTemplate("worker/config.yaml", "storage:\n  files: [\n");
        var e = Assert.Throws<TemplateException>(() => Render("worker-0"));
        Assert.EndsWith("config.yaml", e.Location.File);
        Assert.True(e.Location.Line >= 2);
    }

    [Fact]
    public void VersionDefaultsTo340() => Assert.Equal("3.4.0", Render("cp-0").Ignition.Version);

    [Fact]
    public void SerializedConfigOmitsNulls()
    {
        var json = IgnitionJson.Serialize(Render("worker-0"));
        Assert.DoesNotContain("null", json);
        using var doc = JsonDocument.Parse(json);
        Assert.False(doc.RootElement.TryGetProperty("kernelArguments", out _));
    }
}
