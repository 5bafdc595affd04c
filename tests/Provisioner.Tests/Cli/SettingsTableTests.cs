using Microsoft.Extensions.Configuration;
using Provisioner.Cli;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Cli;

/// <summary>The one settings table: spellings derived from it, every setting in all three forms, README in step.</summary>
public sealed class SettingsTableTests : IDisposable
{
    private readonly ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private static Task<CliResult> RunAsync(Dictionary<string, string>? env, params string[] args) => CliRun.RunAsync(args, env);

    [Theory]
    // The spellings scripts and sites already use; deriving them must not change one.
    [InlineData("profiles", "--profiles", "PROVISIONER_PROFILES")]
    [InlineData("templates", "--templates", "PROVISIONER_TEMPLATES")]
    [InlineData("assets", "--assets", "PROVISIONER_ASSETS")]
    [InlineData("clusterDir", "--cluster-dir", "PROVISIONER_CLUSTER_DIR")]
    [InlineData("store", "--store", "PROVISIONER_STORE")]
    [InlineData("listen", "--listen", "PROVISIONER_LISTEN")]
    [InlineData("listenTls", "--listen-tls", "PROVISIONER_LISTEN_TLS")]
    [InlineData("tlsCert", "--tls-cert", "PROVISIONER_TLS_CERT")]
    [InlineData("tlsKey", "--tls-key", "PROVISIONER_TLS_KEY")]
    [InlineData("logFormat", "--log-format", "PROVISIONER_LOG_FORMAT")]
    [InlineData("kubeconfig", "--kubeconfig", "PROVISIONER_KUBECONFIG")]
    [InlineData("noApprover", "--no-approver", "PROVISIONER_NO_APPROVER")]
    [InlineData("denyForged", "--deny-forged", "PROVISIONER_DENY_FORGED")]
    [InlineData("tftp", "--tftp", "PROVISIONER_TFTP")]
    [InlineData("tftpRoot", "--tftp-root", "PROVISIONER_TFTP_ROOT")]
    [InlineData("proxyDhcp", "--proxy-dhcp", "PROVISIONER_PROXY_DHCP")]
    [InlineData("ipxeDir", "--ipxe-dir", "PROVISIONER_IPXE_DIR")]
    [InlineData("uefiBootFile", "--uefi-boot-file", "PROVISIONER_UEFI_BOOT_FILE")]
    [InlineData("pxeChainFirst", "--pxe-chain-first", "PROVISIONER_PXE_CHAIN_FIRST")]
    [InlineData("baseUrl", "--base-url", "PROVISIONER_BASE_URL")]
    public void Each_setting_has_its_flag_variable_and_file_key(string key, string flag, string env)
    {
        var setting = SettingsTable.Get(key);
        Assert.Equal(key, setting.Key);
        Assert.Equal(flag, setting.Flag);
        Assert.Equal(env, setting.Environment);
    }

    [Fact]
    public void The_table_has_exactly_the_known_settings() =>
        Assert.Equal(20, SettingsTable.All.Length);

    [Fact]
    public void Every_setting_round_trips_through_the_typed_layer()
    {
        // The typed SettingsLayer is a view of the table; a setting it could not carry would be lost by callers of it.
        var data = SettingsTable.All.ToDictionary(s => s.Key, s => (string?)(s.Kind == SettingKind.Switch ? "true" : "x"), StringComparer.OrdinalIgnoreCase);
        var configuration = new Microsoft.Extensions.Configuration.ConfigurationBuilder().AddInMemoryCollection(data).Build();
        var layer = SettingsLayer.FromData(configuration);
        Assert.Equal(data.OrderBy(x => x.Key), layer.ToData().OrderBy(x => x.Key));
    }

    [Fact]
    public async Task Every_command_that_reads_profiles_takes_templates()
    {
        foreach (var command in new[] { "serve", "validate", "ipxe", "ignition", "render" })
        {
            var (_, output, _) = await RunAsync(null, command, "--help");
            Assert.Contains("--templates", output);
        }
        foreach (var command in new[] { "sync", "import-images" })
            Assert.Contains("--templates", (await RunAsync(null, "release", command, "--help")).Out);
    }

    [Fact]
    public async Task Serve_offers_every_serve_setting_and_names_its_other_forms()
    {
        var (_, output, _) = await RunAsync(null, "serve", "--help");
        foreach (var s in SettingsTable.All.Where(s => s.Commands.HasFlag(SettingCommands.Serve)))
        {
            Assert.Contains(s.Flag, output);
            Assert.Contains(s.Environment, output);
        }
    }

    [Fact]
    public void Switches_have_environment_and_file_forms()
    {
        var config = Path.Combine(_tree.Root, "provisioner.yaml");
        File.WriteAllText(config, "denyForged: yes\nbaseUrl: http://192.0.2.7:8080/\n");
        var resolved = Settings.Resolve(SettingsSources.Build(new Dictionary<string, string?>(),
            name => name == "PROVISIONER_NO_APPROVER" ? "true" : null, config));

        Assert.False(resolved.ApproverEnabled);
        Assert.True(resolved.DenyForged);
        Assert.Equal(new Uri("http://192.0.2.7:8080/"), resolved.BaseUrl);
    }

    [Fact]
    public void A_flag_switch_set_to_false_wins_over_the_environment()
    {
        var resolved = Settings.Resolve(SettingsSources.Build(new Dictionary<string, string?> { ["noApprover"] = "false" },
            name => name == "PROVISIONER_NO_APPROVER" ? "true" : null, null));
        Assert.True(resolved.ApproverEnabled);
    }

    [Fact]
    public void A_listen_flag_replaces_the_environment_list_rather_than_merging_with_it()
    {
        var resolved = Settings.Resolve(SettingsSources.Build(new Dictionary<string, string?> { ["listen"] = "127.0.0.1:9000" },
            name => name == "PROVISIONER_LISTEN" ? "127.0.0.1:8000,127.0.0.1:8001" : null, null));
        Assert.Equal(["127.0.0.1:9000"], resolved.Server.Listen.Select(l => l.ToString()));
    }

    [Fact]
    public void The_config_file_can_be_named_by_the_environment()
    {
        var config = Path.Combine(_tree.Root, "site.yaml");
        File.WriteAllText(config, "assets: /srv/assets\n");
        var resolved = Settings.Resolve(SettingsSources.Build(new Dictionary<string, string?>(),
            name => name == "PROVISIONER_CONFIG" ? config : null, null));
        Assert.Equal("/srv/assets", resolved.Server.AssetsDirectory);
    }

    [Fact]
    public async Task Every_bad_value_is_reported_before_anything_starts_each_on_one_line_naming_its_flag()
    {
        var (exit, _, errors) = await RunAsync(new() { ["PROVISIONER_DENY_FORGED"] = "maybe" },
            "serve", "--profiles", _tree.Profiles, "--assets", _tree.Assets, "--log-format", "xml", "--listen", "nowhere");

        Assert.Equal(1, exit);
        Assert.Equal([
            "error: --listen: 'nowhere' is not ADDR:PORT (e.g. 127.0.0.1:8080 or [::1]:8080)",
            "error: --log-format: 'xml' is not 'text' or 'json'",
            "error: --deny-forged: 'maybe' is not true or false",
        ], errors.TrimEnd('\n').Split('\n'));
    }

    [Fact]
    public async Task A_bad_base_url_from_the_environment_names_the_flag()
    {
        var (exit, _, errors) = await RunAsync(new() { ["PROVISIONER_BASE_URL"] = "ftp://x/" }, "ipxe", "worker-0", "--profiles", _tree.Profiles);
        Assert.Equal(1, exit);
        Assert.Equal("error: --base-url: 'ftp://x/' is not an http(s) URL\n", errors);
    }

    [Fact]
    public void Readme_carries_the_generated_settings_table()
    {
        var readme = File.ReadAllText(Path.Combine(RepoPaths.Root, "README.md"));
        const string begin = "<!-- settings-table: generated from src/Provisioner/Cli/SettingsTable.cs; SettingsTableTests checks it -->\n", end = "<!-- /settings-table -->";
        var start = readme.IndexOf(begin, StringComparison.Ordinal);
        Assert.True(start >= 0, "README.md has no settings table; paste this between the markers:\n" + SettingsTable.Markdown());
        var stop = readme.IndexOf(end, start, StringComparison.Ordinal);
        Assert.Equal(SettingsTable.Markdown(), readme[(start + begin.Length)..stop]);
    }
}

/// <summary>Where the Ignition templates come from when no setting names them.</summary>
public sealed class TemplatesDefaultTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("templates-default-").FullName;

    public void Dispose() => Directory.Delete(_root, recursive: true);

    [Fact]
    public void Templates_beside_the_profiles_win_over_the_shipped_ones()
    {
        var shipped = Directory.CreateDirectory(Path.Combine(_root, "lib", "ignition-templates")).FullName;
        var beside = Directory.CreateDirectory(Path.Combine(_root, "site", "ignition-templates")).FullName;
        Assert.Equal((beside, "beside the profiles"), TemplateLocation.Resolve(Path.Combine(_root, "site", "profiles"), null, null, shipped));
    }

    [Fact]
    public void Without_templates_beside_the_profiles_the_shipped_ones_are_used_and_said_so()
    {
        var shipped = Directory.CreateDirectory(Path.Combine(_root, "lib", "ignition-templates")).FullName;
        var (dir, origin) = TemplateLocation.Resolve(Path.Combine(_root, "site", "profiles"), null, null, shipped);
        Assert.Equal(shipped, dir);
        Assert.StartsWith("shipped with provisioner", origin);
    }

    [Fact]
    public void A_given_directory_is_used_as_given() =>
        Assert.Equal(("/x", "--templates"), TemplateLocation.Resolve(Path.Combine(_root, "profiles"), "/x", "--templates", _root));

    [Fact]
    public async Task Validate_of_copied_example_profiles_alone_uses_the_shipped_templates_and_says_which()
    {
        // What profiles/cluster.yaml tells a newcomer to do: copy the profiles directory, without the templates.
        var copy = Path.Combine(_root, "my-site", "profiles");
        Directory.CreateDirectory(copy);
        foreach (var file in Directory.EnumerateFiles(Path.Combine(RepoPaths.Root, "profiles"), "*.yaml"))
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        var stdout = new StringWriter();
        var stderr = new StringWriter();

        var exit = await CommandLine.InvokeAsync(["validate", "--profiles", copy], stdout, stderr, _ => null, TestContext.Current.CancellationToken);

        Assert.True(exit == 0, stderr.ToString());
        Assert.Contains($"templates: {TemplateLocation.Shipped} (shipped with provisioner; no {Path.Combine(_root, "my-site", "ignition-templates")})", stdout.ToString());
        Assert.Contains("ok: cluster demo", stdout.ToString());
    }

    [Fact]
    public async Task Validate_names_a_given_templates_directory_and_where_it_was_given()
    {
        var stdout = new StringWriter();
        var exit = await CommandLine.InvokeAsync(["validate", "--profiles", Path.Combine(RepoPaths.Root, "profiles")], stdout, new StringWriter(),
            name => name == "PROVISIONER_TEMPLATES" ? Path.Combine(RepoPaths.Root, "ignition-templates") : null, TestContext.Current.CancellationToken);
        Assert.Equal(0, exit);
        Assert.Contains($"templates: {Path.Combine(RepoPaths.Root, "ignition-templates")} (PROVISIONER_TEMPLATES)", stdout.ToString());
    }
}
