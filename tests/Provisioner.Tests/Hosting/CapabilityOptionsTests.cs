using System.Reflection;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Provisioner.Approval;
using Provisioner.Assets;
using Provisioner.Boot;
using Provisioner.Cli;
using Provisioner.Primitives;
using Provisioner.Pxe;
using Provisioner.Release;

namespace Provisioner.Tests.Hosting;

/// <summary>
/// Each capability registers itself from configuration (the settings' keys) without touching the host, and checks
/// its options when the server starts, naming the flag to fix. Plain DI: <see cref="IStartupValidator"/> is what the
/// host runs first when it starts.
/// </summary>
public sealed class CapabilityOptionsTests
{
    private const string Missing = "/nonexistent/capability-options";

    private static IConfiguration Configuration(params (string Key, string Value)[] settings) =>
        new ConfigurationBuilder().AddInMemoryCollection(settings.Select(s => KeyValuePair.Create(s.Key, (string?)s.Value))).Build();

    private static ServiceProvider Register(Action<IServiceCollection> add)
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(new ClusterDirectoryPath(Path.Combine(Path.GetTempPath(), "capability-options-cluster")));
        add(services);
        return services.BuildServiceProvider();
    }

    private static IReadOnlyList<string> StartFailures(ServiceProvider services) =>
        [.. Assert.Throws<OptionsValidationException>(() => services.GetRequiredService<IStartupValidator>().Validate()).Failures];

    [Fact]
    public void Registering_pxe_with_a_missing_ipxe_dir_touches_no_disk_and_starting_names_the_flag()
    {
        var configuration = Configuration(("tftp", "127.0.0.1:0"), ("ipxeDir", Missing));

        using var services = Register(s => s.AddPxe(configuration));

        Assert.Equal([$"--ipxe-dir: '{Missing}' does not exist; install Debian's 'ipxe' package or point --ipxe-dir at a directory holding them"],
            StartFailures(services));
    }

    [Fact]
    public void A_malformed_tftp_address_fails_at_start_naming_the_flag()
    {
        using var services = Register(s => s.AddPxe(Configuration(("tftp", "localhost:69"))));

        Assert.Equal(["--tftp: 'localhost' in 'localhost:69' is not an IP address (e.g. 0.0.0.0, 192.0.2.1:69)"], StartFailures(services));
    }

    [Fact]
    public void With_pxe_off_its_host_dependent_settings_are_not_looked_at()
    {
        using var services = Register(s => s.AddPxe(Configuration(("ipxeDir", Missing))));

        services.GetRequiredService<IStartupValidator>().Validate();
        Assert.Empty(services.GetServices<Microsoft.Extensions.Hosting.IHostedService>());
    }

    [Fact]
    public void A_missing_kubeconfig_fails_at_start_naming_the_flag()
    {
        using var services = Register(s => s.AddApprover(Configuration(("kubeconfig", Missing))));

        Assert.Equal([$"--kubeconfig: '{Missing}' does not exist"], StartFailures(services));
    }

    [Fact]
    public void With_the_approver_off_its_kubeconfig_need_not_exist()
    {
        using var services = Register(s => s.AddApprover(Configuration(("kubeconfig", Missing), ("noApprover", "true"))));

        services.GetRequiredService<IStartupValidator>().Validate();
    }

    [Fact]
    public void A_switch_that_is_not_true_or_false_fails_at_start_naming_the_flag()
    {
        using var services = Register(s => s.AddApprover(Configuration(("denyForged", "maybe"))));

        Assert.Equal(["--deny-forged: 'maybe' is not true or false"], StartFailures(services));
    }

    [Fact]
    public void The_approver_takes_its_switches_from_configuration_and_its_timings_from_the_registered_tuning()
    {
        using var services = Register(s =>
        {
            s.AddSingleton(new ApproverTuning(new ApproverOptions { LeaseName = "tuned" }));
            s.AddApprover(Configuration(("noApprover", "true"), ("denyForged", "yes")));
        });

        var options = services.GetRequiredService<ApproverOptions>();

        Assert.False(options.Enabled);
        Assert.True(options.Policy.DenyForged);
        Assert.Equal("tuned", options.LeaseName);
    }

    [Fact]
    public void A_missing_assets_directory_fails_at_start_naming_the_flag()
    {
        using var services = Register(s => s.AddAssets(Configuration(("assets", Missing))));

        Assert.Equal([$"--assets: the assets directory '{Missing}' does not exist"], StartFailures(services));
    }

    [Fact]
    public void A_tls_certificate_without_its_key_fails_at_start_naming_the_flag()
    {
        using var services = Register(s => s.AddSecretDelivery(Configuration(("tlsCert", "/etc/provisioner/tls.crt"))));

        Assert.Equal(["--tls-cert: give --tls-key with it"], StartFailures(services));
    }

    [Fact]
    public void The_release_store_defaults_to_release_store_beside_the_profiles()
    {
        var root = Path.Combine(Path.GetTempPath(), "capability-options-site");
        using var services = Register(s => s.AddReleaseMirror(Configuration(("profiles", Path.Combine(root, "profiles")))));

        Assert.Equal(Path.Combine(root, "release-store"), services.GetRequiredService<ContentStore>().Root);
    }

    [Fact]
    public void Every_capability_failing_at_start_is_reported_each_on_its_own_line()
    {
        var configuration = Configuration(("assets", Missing), ("kubeconfig", Missing), ("tftp", "127.0.0.1:0"), ("ipxeDir", Missing));
        using var services = Register(s => s.AddAssets(configuration).AddApprover(configuration).AddPxe(configuration));

        var failures = Assert.Throws<AggregateException>(() => services.GetRequiredService<IStartupValidator>().Validate())
            .InnerExceptions.Cast<OptionsValidationException>().SelectMany(e => e.Failures);

        Assert.Equal(3, failures.Count());
        Assert.Contains(failures, f => f.StartsWith("--assets:", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("--kubeconfig:", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("--ipxe-dir:", StringComparison.Ordinal));
    }

    /// <summary>The capabilities bind the settings table's keys, so flags, variables and provisioner.yaml reach them unchanged.</summary>
    [Theory]
    [InlineData(typeof(PxeConfiguration))]
    [InlineData(typeof(ApproverConfiguration))]
    [InlineData(typeof(AssetsConfiguration))]
    [InlineData(typeof(ServingTlsConfiguration))]
    [InlineData(typeof(ReleaseMirrorConfiguration))]
    public void Every_bound_property_is_a_key_of_the_settings_table(Type configuration)
    {
        var bound = configuration.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite).Select(p => p.Name);

        Assert.All(bound, name => Assert.NotNull(SettingsTable.Find(name)));
    }
}

/// <summary>Composing the server reads nothing from the disk; what is wrong there surfaces when it starts.</summary>
public sealed class ServerCompositionTests : IDisposable
{
    private readonly Provisioner.Tests.Support.ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    private Provisioner.Hosting.ServerOptions Options() => new()
    {
        ProfilesDirectory = _tree.Profiles,
        TemplatesDirectory = _tree.Templates,
        AssetsDirectory = _tree.Assets,
        MinimumLogLevel = Serilog.Events.LogEventLevel.Fatal,
        Approver = new ApproverOptions { Enabled = false },
    };

    private static Provisioner.Hosting.ProvisionerServer Build(Provisioner.Hosting.ServerOptions options) =>
        Provisioner.Hosting.ProvisionerServer.Build(options, configureWebHost: web => web.UseTestServer());

    [Fact]
    public async Task A_missing_assets_directory_fails_when_the_server_starts_not_when_it_is_composed()
    {
        await using var server = Build(Options() with { AssetsDirectory = "/nonexistent/assets" });

        var e = await Assert.ThrowsAsync<OptionsValidationException>(() => server.StartAsync(TestContext.Current.CancellationToken));
        Assert.Equal(["--assets: the assets directory '/nonexistent/assets' does not exist"], e.Failures);
    }

    [Fact]
    public async Task Invalid_profiles_fail_when_the_server_starts_not_when_it_is_composed()
    {
        _tree.Edit("machines.yaml", "mac: 52:54:00:00:30:01", "mac: 52:54:00:00:30:0x");

        await using var server = Build(Options());

        var e = await Assert.ThrowsAsync<Provisioner.Profiles.ProfileValidationException>(() => server.StartAsync(TestContext.Current.CancellationToken));
        Assert.Contains(e.Diagnostics, d => d.ToString().Contains("is not a MAC address", StringComparison.Ordinal));
    }
}
