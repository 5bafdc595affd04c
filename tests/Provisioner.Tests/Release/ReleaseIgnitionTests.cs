using System.Diagnostics;
using System.Text;
using Provisioner.Ignition;
using Provisioner.Profiles;
using Provisioner.Rendering;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Release;

/// <summary>The release-mirror template: container runtimes pull the release's images by digest from the bootstrap host.</summary>
public sealed class ReleaseIgnitionTests : IDisposable
{
    private static readonly Uri BaseUrl = new("http://192.0.2.1:8080/");
    private readonly ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private IgnitionConfig Render(string machine) => _tree.RenderIgnition(machine, BaseUrl);

    private static string File(IgnitionConfig config, string path) =>
        Encoding.UTF8.GetString(DataUrl.Decode(config.Storage!.Files!.Single(f => f.Path == path).Contents!));

    private void WithRelease() => _tree.Write("release.yaml", ReleaseYaml.Section([]));

    [Theory]
    [InlineData("bootstrap-0")]
    [InlineData("cp-0")]
    public void Without_a_release_nothing_about_the_mirror_is_added(string machine)
    {
        var config = Render(machine);

        Assert.DoesNotContain(config.Storage!.Files!, f => f.Path.Contains("provisioner-release") || f.Path.Contains("libexec/provisioner"));
        Assert.DoesNotContain(config.Systemd!.Units!, u => u.Name is "release-image.service" or "release-mirror-hosts.service");
    }

    [Fact]
    public void Registries_conf_mirrors_each_release_registry_by_digest_to_the_bootstrap_host()
    {
        WithRelease();

        var conf = File(Render("cp-0"), "/etc/containers/registries.conf.d/50-provisioner-release.conf");

        Assert.Contains("""
            [[registry]]
            prefix = "registry.k8s.io"
            location = "registry.k8s.io"

            [[registry.mirror]]
            location = "192.0.2.1:8080/registry.k8s.io"
            insecure = true
            pull-from-mirror = "digest-only"
            """, conf);
    }

    [Fact]
    public async Task The_containerd_script_writes_hosts_toml_pointing_at_the_registry_path_of_the_mirror()
    {
        WithRelease();
        var script = File(Render("bootstrap-0"), "/usr/local/libexec/provisioner/containerd-mirror-hosts");
        var root = Directory.CreateTempSubdirectory("provisioner-hosts-");
        try
        {
            // Run the rendered script for real, with /etc redirected into a temp directory.
            var path = Path.Combine(root.FullName, "script.sh");
            await System.IO.File.WriteAllTextAsync(path, script.Replace("/etc/containerd", root.FullName + "/etc/containerd"), TestContext.Current.CancellationToken);
            using var sh = Process.Start("sh", path);
            await sh.WaitForExitAsync(TestContext.Current.CancellationToken);

            Assert.Equal(0, sh.ExitCode);
            Assert.Equal("""
                server = "https://registry.k8s.io"

                [host."http://192.0.2.1:8080/v2/registry.k8s.io"]
                  capabilities = ["pull", "resolve"]
                  override_path = true

                """, await System.IO.File.ReadAllTextAsync(Path.Combine(root.FullName, "etc/containerd/certs.d/registry.k8s.io/hosts.toml"), TestContext.Current.CancellationToken));
        }
        finally
        {
            root.Delete(recursive: true);
        }
    }

    [Fact]
    public void The_release_image_check_pulls_every_image_by_digest()
    {
        WithRelease();
        var config = Render("bootstrap-0");

        var script = File(config, "/usr/local/libexec/provisioner/release-image-check");
        var unit = config.Systemd!.Units!.Single(u => u.Name == "release-image.service");

        Assert.Contains($"\"registry.k8s.io/coredns/coredns@sha256:{ReleaseYaml.Hex("coredns")}\"", script);
        Assert.Equal(11, script.Split('\n').Count(l => l.Contains("@sha256:", StringComparison.Ordinal)));
        Assert.True(unit.Enabled);
        Assert.Contains("Before=bootkube.service kubelet.service", unit.Contents);
        Assert.Contains("ExecStart=/usr/local/libexec/provisioner/release-image-check", unit.Contents);
    }

    [Theory]
    [InlineData("/usr/local/libexec/provisioner/release-image-check")]
    [InlineData("/usr/local/libexec/provisioner/containerd-mirror-hosts")]
    [Trait(Category.Name, Category.Integration)]
    public async Task The_rendered_scripts_pass_shellcheck(string path)
    {
        var shellcheck = Requires.Program("shellcheck", "shellcheck");
        WithRelease();
        var script = Path.Combine(_tree.Root, Path.GetFileName(path));
        await System.IO.File.WriteAllTextAsync(script, File(Render("bootstrap-0"), path), TestContext.Current.CancellationToken);

        var start = new ProcessStartInfo(shellcheck, [script]) { RedirectStandardOutput = true };
        using var process = Process.Start(start)!;
        var findings = await process.StandardOutput.ReadToEndAsync(TestContext.Current.CancellationToken);
        await process.WaitForExitAsync(TestContext.Current.CancellationToken);

        Assert.True(process.ExitCode == 0, findings);
    }

    [Fact]
    public void Bootkube_starts_only_after_the_release_image_check_succeeded()
    {
        WithRelease();
        var bootkube = Render("bootstrap-0").Systemd!.Units!.Single(u => u.Name == "bootkube.service").Contents!;

        Assert.Contains("Requires=release-image.service", bootkube);
        Assert.Matches("(?m)^After=.*release-image\\.service", bootkube);
    }

    [Fact]
    public void Without_a_release_bootkube_requires_no_release_image_unit()
    {
        var bootkube = Render("bootstrap-0").Systemd!.Units!.Single(u => u.Name == "bootkube.service").Contents!;

        Assert.DoesNotContain("release-image.service", bootkube);
    }

    [Fact]
    public void Workers_get_the_mirror_configuration_too_since_they_pull_kubelet_kube_proxy_flannel_and_pause_from_it()
    {
        WithRelease();
        var config = Render("worker-0");

        Assert.Contains(config.Systemd!.Units!, u => u.Name == "release-image.service" && u.Enabled == true);
        Assert.Contains(config.Systemd!.Units!, u => u.Name == "release-mirror-hosts.service" && u.Enabled == true);
        Assert.Contains("pull-from-mirror = \"digest-only\"", File(config, "/etc/containers/registries.conf.d/50-provisioner-release.conf"));
    }
}
