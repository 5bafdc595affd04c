using Provisioner.Cluster;
using Provisioner.Ignition;
using Provisioner.Release;
using Provisioner.Tests.Cluster;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Fcos;

/// <summary>
/// The worker role's Ignition config, fetched through the pointer flow (plain-HTTP pointer → real config over TLS) and
/// applied by the real Ignition 2.14 to a test machine from
/// <c>../shared/machines</c> (systemd-nspawn, systemd 252, podman and containerd inside; README there), booted, and
/// checked from inside: containerd active with the rendered config.toml, docker masked, kubelet.service running the
/// release's (stand-in) kubelet image under podman with the expected argv and mounts, units in order and staying up,
/// containerd pulling by tag and by digest from Provisioner's <c>/v2/</c> through the rendered hosts.toml, nothing
/// referenced that the machine lacks, and the bootstrap machine's bootkube.sh running its stages with kubectl from
/// the (stand-in) release kubectl image under podman. <c>MACHINES_NET=host</c>: one machine, the server on 127.0.0.1.
/// </summary>
[Trait(Category.Name, Category.Integration)]
[Trait(Category.Name, Category.Slow)]
[Collection(TestMachines.Collection)]
public sealed class WorkerMachineTests : IAsyncLifetime
{
    private const string WorkerMac = "52:54:00:00:30:01";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private static readonly Dictionary<string, string> Env = new() { ["MACHINES_NET"] = "host" };

    private readonly ProfileTree _tree = new();
    private readonly string _name = "fcos-w-" + Guid.NewGuid().ToString("N")[..6];
    private string _machines = null!;
    private RunningServer? _server;
    private StandInImages _images = null!;
    private bool _made;

    private string Store => Path.Combine(_tree.Root, "store");

    /// <summary>Every component's image: the stand-in kubelet for all but kubectl (the digest is what matters), by upstream name.</summary>
    private static readonly (string Component, string Name, string Tag, bool Kubectl)[] Components =
    [
        ("kube-apiserver", "registry.k8s.io/kube-apiserver", "v1.31.2", false),
        ("kube-controller-manager", "registry.k8s.io/kube-controller-manager", "v1.31.2", false),
        ("kube-scheduler", "registry.k8s.io/kube-scheduler", "v1.31.2", false),
        ("kube-proxy", "registry.k8s.io/kube-proxy", "v1.31.2", false),
        ("pause", "registry.k8s.io/pause", "3.10", false),
        ("etcd", "registry.k8s.io/etcd", "3.5.15-0", false),
        ("coredns", "registry.k8s.io/coredns/coredns", "v1.11.3", false),
        ("kubelet", "quay.io/poseidon/kubelet", "v1.31.2", false),
        ("kubectl", "registry.k8s.io/kubectl", "v1.31.2", true),
        ("flannel", "docker.io/flannel/flannel", "v0.26.1", false),
        ("flannel-cni-plugin", "docker.io/flannel/flannel-cni-plugin", "v1.5.1-flannel2", false),
    ];

    public async ValueTask InitializeAsync()
    {
        _machines = TestMachines.Directory();
        await TestMachines.EnsureGoldenAsync(_machines, Ct);

        _images = await StandInImages.BuildAsync(Path.Combine(_tree.Root, "images"), Ct);
        var importer = new OciLayoutImporter(new ImageRepositories(new ContentStore(Store)));
        var release = new System.Text.StringBuilder("release:\n  kubernetesVersion: v1.31.2\n  images:\n");
        foreach (var (component, name, tag, kubectl) in Components)
        {
            var (layout, digest) = kubectl ? (_images.KubectlLayout, _images.KubectlDigest) : (_images.KubeletLayout, _images.KubeletDigest);
            await importer.ImportAsync(layout, name, tag, StandInImages.Tag, Ct);
            release.Append($"    {component}: {{image: \"{name}:{tag}\", digest: \"{digest}\"}}\n");
        }
        _tree.Write("release.yaml", release.ToString());
        // Machines reach the server at the address they used (127.0.0.1 here), as the mirror and progress URLs say.
        _tree.Edit("cluster.yaml", "provisionerUrl: http://192.0.2.1:8080", "");
        _server = await RunningServer.StartAsync(_tree, o => o with { StoreDirectory = Store });
    }

    public async ValueTask DisposeAsync()
    {
        if (_made) await Proc.RunAsync("bash", [Path.Combine(_machines, "rmmachine.sh"), _name], CancellationToken.None, Env);
        if (_server is not null) await _server.DisposeAsync();
        _tree.Dispose();
    }

    /// <summary>A machine's real config as Ignition 2.14 (spec 3.3.0 at most) gets it: /ipxe → pointer → TLS.</summary>
    /// <summary>The bootstrap machine's real config: it is released once per provisioning round, so fetched once.</summary>
    private string? _bootstrapConfig;

    private Task<string> RealConfigAsync(string mac) =>
        _server!.RealConfigAsync("mac=" + mac, Ct, "application/vnd.coreos.ignition+json;version=3.3.0, */*;q=0.1");

    private async Task<(int Exit, string Output)> InMachineAsync(params string[] command) =>
        await Proc.RunAsync("bash", [Path.Combine(_machines, "enter.sh"), _name, "--", .. command], Ct, Env);

    private async Task<string> OkAsync(params string[] command)
    {
        var (exit, output) = await InMachineAsync(command);
        Assert.True(exit == 0, $"{string.Join(' ', command)} exited {exit}:\n{output}");
        return output;
    }

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="what"/> and the last state after the timeout.</summary>
    private static async Task WaitForAsync(string what, Func<Task<(bool Ok, string State)>> condition, TimeSpan timeout)
    {
        var state = "";
        await Eventually.That(async () =>
        {
            bool ok;
            (ok, state) = await condition();
            return ok;
        }, () => $"{what}; last state:\n{state}", timeout, interval: TimeSpan.FromMilliseconds(250));
    }

    private async Task<long> MonotonicAsync(string unit, string property) =>
        long.Parse((await OkAsync("systemctl", "show", "-P", property, unit)).Trim(), System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task The_served_worker_config_boots_containerd_and_the_kubelet_container_and_bootkube_runs_kubectl_from_the_release_image()
    {
        // The real Ignition follows the worker's pointer (from its iPXE script) to the real config over TLS.
        var ignitionUrl = await _server!.IgnitionUrlAsync("mac=" + WorkerMac, Ct);
        var mk = await Proc.RunAsync("bash", [Path.Combine(_machines, "mkmachine.sh"), _name, ignitionUrl.ToString()], Ct, Env);
        _made = true;
        Assert.True(mk.Exit == 0, mk.Output);
        // The config Ignition applied (pointer and real config merged), from its config cache: what the checks compare with.
        var json = await File.ReadAllTextAsync(Path.Combine(TestMachines.Home, "machines", _name, "ign", "ignition.json"), Ct);
        var config = IgnitionJson.Deserialize(json);
        var files = IgnitionFiles.Decode(json);
        var kubeletUnit = KubeletUnit.Parse(IgnitionFiles.Unit(json, "kubelet.service"));
        Assert.Contains("/etc/provisioner/report-key", files.Keys);
        var wait = await Proc.RunAsync("bash", [Path.Combine(_machines, "wait.sh"), _name, "120"], Ct, Env);
        Assert.True(wait.Exit == 0, wait.Output + await InMachineAsync("systemctl", "--failed", "--no-pager").ContinueWith(t => t.Result.Output));

        // containerd: active, with exactly the rendered config; docker masked.
        Assert.Equal("active", (await OkAsync("systemctl", "is-active", "containerd.service")).Trim());
        Assert.Equal(files["/etc/containerd/config.toml"].Text, await OkAsync("cat", "/etc/containerd/config.toml"));
        Assert.Contains($"sandbox_image = \"registry.k8s.io/pause@{_images.KubeletDigest}\"", files["/etc/containerd/config.toml"].Text);
        foreach (var unit in new[] { "docker.service", "docker.socket" })
            Assert.Equal("masked", (await InMachineAsync("systemctl", "is-enabled", unit)).Output.Trim());
        Assert.Contains(config.Systemd!.Units!, u => u.Name == "docker.service" && u.Mask == true);

        // Install mode (the example worker installs to /dev/vda): the installed system's oneshot reported "installed"
        // to the server once the network was up, and left its stamp so that it reports once.
        await WaitForAsync("provisioner-installed.service to report", async () =>
        {
            var (_, state) = await InMachineAsync("systemctl", "is-active", "provisioner-installed.service");
            return (state.Trim() == "active", state + (await InMachineAsync("journalctl", "-b", "-u", "provisioner-installed", "--no-pager", "-o", "cat")).Output);
        }, TimeSpan.FromSeconds(90));
        await OkAsync("test", "-f", "/var/lib/provisioner/installed.reported");
        Assert.Equal(Provisioner.Inventory.MachinePhases.Installed, (await _server!.MachineAsync("worker-0", Ct)).GetProperty("phase").GetString());

        // The release check pulled every image by digest through the mirror; then the kubelet container runs.
        await WaitForAsync("release-image.service to finish", async () =>
        {
            var (_, state) = await InMachineAsync("systemctl", "is-active", "release-image.service");
            return (state.Trim() == "active", state + (await InMachineAsync("journalctl", "-b", "-u", "release-image", "--no-pager", "-o", "cat")).Output);
        }, TimeSpan.FromSeconds(120));
        var expectedArgs = string.Join(' ', kubeletUnit.KubeletArgs);
        await WaitForAsync("the stand-in kubelet to print its argv", async () =>
        {
            var (_, log) = await InMachineAsync("journalctl", "-b", "-u", "kubelet.service", "--no-pager", "-o", "cat");
            return (log.Contains($"stand-in kubelet argv: {expectedArgs}", StringComparison.Ordinal), log);
        }, TimeSpan.FromSeconds(90));
        Assert.Equal("active", (await OkAsync("systemctl", "is-active", "kubelet.service")).Trim());
        Assert.Equal($"quay.io/poseidon/kubelet@{_images.KubeletDigest}", kubeletUnit.Image);
        // v1.31: the runtime endpoint is in the KubeletConfiguration (before v1.27 a flag; both name containerd).
        Assert.Contains("containerRuntimeEndpoint: unix:///run/containerd/containerd.sock", await OkAsync("cat", "/etc/kubernetes/kubelet-config.yaml"));

        // podman's view of the container: privileged, host PID and network, the image by digest, the mounts.
        var inspect = await OkAsync("podman", "inspect", "kubelet", "--format",
            "{{.ImageDigest}}|{{.HostConfig.Privileged}}|{{.HostConfig.PidMode}}|{{.HostConfig.NetworkMode}}|{{range .Mounts}}{{.Source}}:{{.Destination}}:{{.RW}}:{{.Propagation}} {{end}}");
        var parts = inspect.Trim().Split('|');
        Assert.Equal(_images.KubeletDigest, parts[0]);
        Assert.Equal(["true", "host", "host"], parts[1..4]);
        var mounts = parts[4].Split(' ', StringSplitOptions.RemoveEmptyEntries).ToDictionary(m => m.Split(':')[1], m => m);
        foreach (var path in new[] { "/etc/kubernetes", "/var/lib/kubelet", "/var/lib/containerd", "/run", "/sys/fs/cgroup", "/var/log", "/etc/cni/net.d", "/opt/cni/bin" })
            Assert.True(mounts.TryGetValue(path, out var m) && m.Split(':')[2] == "true", $"{path} read-write in {parts[4]}");
        foreach (var path in new[] { "/lib/modules", "/etc/machine-id" })
            Assert.True(mounts.TryGetValue(path, out var m) && m.Split(':')[2] == "false", $"{path} read-only in {parts[4]}");
        Assert.Contains("rshared", mounts["/var/lib/kubelet"]);
        Assert.Equal(["/etc/kubernetes:/etc/kubernetes", "/var/lib/kubelet:/var/lib/kubelet:rshared", "/var/lib/containerd:/var/lib/containerd",
            "/run:/run", "/sys/fs/cgroup:/sys/fs/cgroup", "/var/log:/var/log", "/etc/cni/net.d:/etc/cni/net.d", "/opt/cni/bin:/opt/cni/bin",
            "/lib/modules:/lib/modules:ro", "/etc/machine-id:/etc/machine-id:ro"], kubeletUnit.Volumes);

        // Order: the hosts.toml writer before containerd, containerd and the image check before the kubelet.
        var containerdUp = await MonotonicAsync("containerd.service", "ActiveEnterTimestampMonotonic");
        var hostsDone = await MonotonicAsync("release-mirror-hosts.service", "ExecMainExitTimestampMonotonic");
        var checkDone = await MonotonicAsync("release-image.service", "ExecMainExitTimestampMonotonic");
        var kubeletStart = await MonotonicAsync("kubelet.service", "ExecMainStartTimestampMonotonic");
        Assert.True(hostsDone <= await MonotonicAsync("containerd.service", "ExecMainStartTimestampMonotonic"), "hosts.toml written before containerd started");
        Assert.True(kubeletStart > containerdUp && kubeletStart > checkDone, $"kubelet {kubeletStart} after containerd {containerdUp} and the image check {checkDone}");
        // Stays up: the same main process, never restarted, once the stand-in runs.
        Assert.Equal("0", (await OkAsync("systemctl", "show", "-P", "NRestarts", "kubelet.service")).Trim());
        Assert.Contains("kubelet", await OkAsync("podman", "ps", "--format", "{{.Names}}"));

        // containerd pulls by tag and by digest from Provisioner's /v2/ through the rendered hosts.toml.
        var hostsToml = await OkAsync("cat", "/etc/containerd/certs.d/registry.k8s.io/hosts.toml");
        Assert.Contains("capabilities = [\"pull\", \"resolve\"]", hostsToml);
        Assert.Contains($"[host.\"http://127.0.0.1:{_server!.BaseAddress.Port}/v2/registry.k8s.io\"]", hostsToml);
        await OkAsync("ctr", "-n", "provisioner-test", "images", "pull", "--hosts-dir", "/etc/containerd/certs.d", "registry.k8s.io/kube-scheduler:v1.31.2");
        await OkAsync("ctr", "-n", "provisioner-test", "images", "pull", "--hosts-dir", "/etc/containerd/certs.d", $"registry.k8s.io/kube-proxy@{_images.KubeletDigest}");
        var listed = await OkAsync("ctr", "-n", "provisioner-test", "images", "ls", "-q");
        Assert.Contains("registry.k8s.io/kube-scheduler:v1.31.2", listed);
        Assert.Contains($"registry.k8s.io/kube-proxy@{_images.KubeletDigest}", listed);

        // systemd's own check of every unit the config wrote, where it runs; and every program they start exists.
        var unitNames = config.Systemd.Units!.Where(u => u.Contents is not null).Select(u => u.Name).ToArray();
        var verify = await InMachineAsync(["systemd-analyze", "verify", .. unitNames.Select(u => "/etc/systemd/system/" + u)]);
        Assert.True(verify.Exit == 0, verify.Output);
        foreach (var program in config.Systemd.Units!.Where(u => u.Contents is not null)
                     .SelectMany(u => u.Contents!.Split('\n')).Where(l => l.StartsWith("Exec", StringComparison.Ordinal))
                     .Select(l => l[(l.IndexOf('=') + 1)..].TrimStart('-').Split(' ')[0]).Distinct())
            await OkAsync("test", "-x", program);
        var everything = json + string.Concat(files.Values.Select(f => f.Text));
        foreach (var absent in new[] { "/usr/bin/kubelet", "/usr/bin/kubectl", "crio", "cri-o" })
            Assert.DoesNotContain(absent, everything);

        await BootkubeRunsKubectlFromTheReleaseImageAsync();
        await EveryRolesUnitsPassSystemdVerifyAsync();
    }

    /// <summary>
    /// <c>systemd-analyze verify</c> on the units of the other roles too (bootstrap, control plane), in this machine's
    /// real systemd: each role's units go to a directory of their own, and the programs they start that the role's
    /// config itself writes (bootkube.sh, the installed-report script) are written where the config puts them.
    /// </summary>
    private async Task EveryRolesUnitsPassSystemdVerifyAsync()
    {
        var root = Environment.GetEnvironmentVariable("MACHINES_HOME") is { Length: > 0 } home
            ? Path.Combine(home, "machines", _name, "root") : Path.Combine("/var/lib/provisioner-test-machines/machines", _name, "root");
        foreach (var (role, mac) in new[] { ("bootstrap", "52:54:00:00:10:01"), ("control-plane", "52:54:00:00:20:01") })
        {
            var json = role == "bootstrap" ? _bootstrapConfig ??= await RealConfigAsync(mac) : await RealConfigAsync(mac);
            var config = IgnitionJson.Deserialize(json);
            var files = IgnitionFiles.Decode(json);
            var units = config.Systemd!.Units!.Where(u => u.Contents is not null).ToList();
            Assert.NotEmpty(units);
            var dir = $"/root/verify/{role}";
            foreach (var unit in units)
            {
                var target = Path.Combine(root + dir, unit.Name);
                Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                await File.WriteAllTextAsync(target, unit.Contents, Ct);
            }
            foreach (var program in units.SelectMany(u => u.Contents!.Split('\n')).Where(l => l.StartsWith("Exec", StringComparison.Ordinal))
                         .Select(l => l[(l.IndexOf('=') + 1)..].TrimStart('-', '+', '!', '@').Split(' ')[0]).Distinct())
            {
                if (files.TryGetValue(program, out var file))
                {
                    var target = Path.Combine(root, program.TrimStart('/'));
                    Directory.CreateDirectory(Path.GetDirectoryName(target)!);
                    await File.WriteAllTextAsync(target, file.Text, Ct);
                    File.SetUnixFileMode(target, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute | UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
                }
                await OkAsync("test", "-x", program);
            }
            var verify = await InMachineAsync(["systemd-analyze", "verify", .. units.Select(u => $"{dir}/{u.Name}")]);
            Assert.True(verify.Exit == 0, $"{role}: {verify.Output}");
        }
    }

    /// <summary>
    /// The bootstrap machine's bootkube.sh and /opt/provisioner tree (as served) copied into the machine and run in
    /// dry run with BOOTKUBE_DRY_RUN_KUBECTL=1: every kubectl call really runs under the machine's podman, from the
    /// release's (stand-in) kubectl image pulled by digest through the mirror, and must read its kubeconfig and manifests.
    /// </summary>
    private async Task BootkubeRunsKubectlFromTheReleaseImageAsync()
    {
        var bootstrap = IgnitionFiles.Decode(_bootstrapConfig ??= await RealConfigAsync("52:54:00:00:10:01"));
        var root = Path.Combine("/var/lib/provisioner-test-machines/machines", _name, "root");
        root = Environment.GetEnvironmentVariable("MACHINES_HOME") is { Length: > 0 } home ? Path.Combine(home, "machines", _name, "root") : root;
        const string inside = "/root/bootkube";
        foreach (var file in bootstrap.Values.Where(f => f.Path.StartsWith("/opt/provisioner/", StringComparison.Ordinal) || f.Path == MachinePaths.AdminKubeconfig || f.Path == "/usr/local/bin/bootkube.sh"
                     || f.Path == "/etc/provisioner/report-key"))
        {
            var target = Path.Combine(root + inside, file.Path.TrimStart('/'));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            await File.WriteAllTextAsync(target, file.Text, Ct);
        }
        // A transient unit of the machine's systemd (podman needs its cgroups); it inherits no environment, so --setenv.
        string[] settings = ["BOOTKUBE_DRY_RUN=1", "BOOTKUBE_DRY_RUN_KUBECTL=1", "BOOTKUBE_RETRY_DELAY=0",
            $"BOOTKUBE_ASSET_DIR={inside}/opt/provisioner", $"BOOTKUBE_STATE_DIR={inside}/state", $"BOOTKUBE_STATIC_POD_DIR={inside}/static-pods",
            $"BOOTKUBE_KUBECONFIG={inside}{MachinePaths.AdminKubeconfig}",
            // The bootstrap machine's own report key (this machine's /etc/provisioner/report-key is the worker's).
            $"BOOTKUBE_REPORT_KEY_FILE={inside}/etc/provisioner/report-key"];
        var (exit, output) = await InMachineAsync(["systemd-run", "--wait", "--pipe", "-q", .. settings.Select(e => "--setenv=" + e),
            "/bin/bash", $"{inside}/usr/local/bin/bootkube.sh"]);
        Assert.True(exit == 0, output);
        Assert.Equal(["copy-static-pods", "wait-etcd", "wait-api", "apply-manifests", "wait-control-plane", "label-control-plane", "teardown", "complete"],
            (await OkAsync("cat", $"{inside}/state/stages.log")).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        var manifests = bootstrap.Keys.Where(p => p.StartsWith("/opt/provisioner/manifests/", StringComparison.Ordinal)).Select(Path.GetFileName).ToList();
        Assert.Contains(ClusterManifests.FlannelFile, manifests);
        foreach (var manifest in manifests)
            Assert.Contains($"stand-in kubectl: --kubeconfig {inside}{MachinePaths.AdminKubeconfig} --server https://127.0.0.1:6443 apply -f {inside}/opt/provisioner/manifests/{manifest}", output);
        Assert.Contains("stand-in kubectl: --kubeconfig", output);
        Assert.DoesNotContain("cannot read", output);
        var history = (await _server!.MachineAsync("bootstrap-0", Ct)).GetProperty("history").EnumerateArray().Select(e => e.GetProperty("stage").GetString()).ToList();
        Assert.Contains("bootkube.complete", history);
    }
}
