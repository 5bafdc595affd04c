using System.Net;
using System.Net.NetworkInformation;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Provisioner.Api;
using Provisioner.Approval;
using Provisioner.Assets;
using Provisioner.Boot;
using Provisioner.Catalog;
using Provisioner.Inventory;
using Provisioner.Observability;
using Provisioner.Profiles;
using Provisioner.Release;
using Provisioner.Primitives;
using Provisioner.Pxe;
using Provisioner.Registry;
using Provisioner.Rendering;
using Provisioner.WebConsole;
using Serilog;
using Serilog.Formatting.Compact;

namespace Provisioner.Hosting;

/// <summary>
/// Composes the HTTP server: services, middleware and endpoints. Used by <c>provisioner serve</c> and by
/// the tests, which start the very same server on a loopback port.
/// </summary>
internal sealed class ProvisionerServer : IAsyncDisposable
{
    private readonly WebApplication _app;

    private ProvisionerServer(WebApplication app) => _app = app;

    public IServiceProvider Services => _app.Services;

    /// <summary>The addresses Kestrel actually bound (with real ports when 0 was asked).</summary>
    public IReadOnlyList<Uri> Addresses =>
        [.. _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Select(a => new Uri(a))];

    /// <summary>The first plain-HTTP address.</summary>
    public Uri BaseAddress => Addresses.First(a => a.Scheme == Uri.UriSchemeHttp);

    /// <summary>The first address of the TLS listener (machines' real configs).</summary>
    public Uri TlsBaseAddress => Addresses.First(a => a.Scheme == Uri.UriSchemeHttps);

    /// <summary>Loads and validates the catalog; throws <see cref="ProfileValidationException"/> when invalid.</summary>
    public static CatalogSnapshot LoadCatalog(ServerOptions options, IgnitionRenderer renderer)
    {
        var (snapshot, problems) = CatalogLoader.TryLoad(Sources(options), renderer, TimeProvider.System);
        return snapshot ?? throw new ProfileValidationException(problems);
    }

    public static ProfileSources Sources(ServerOptions options) => new(options.ProfilesDirectory, options.TemplatesDirectory);

    /// <summary>
    /// Composes the server. Nothing here reads the disk or the network: each capability registers itself from
    /// <paramref name="configuration"/> (the settings' keys, as flags, <c>PROVISIONER_*</c> and provisioner.yaml give
    /// them) and its options are checked when the server starts; the catalog is loaded then too (see
    /// <see cref="ListenPlan"/> for why that is early enough for Kestrel's addresses).
    /// </summary>
    /// <param name="options">
    /// The resolved settings the composition itself uses (profiles, templates, listen addresses, logging) and the
    /// tunables without a setting (timings, policies), which tests adjust.
    /// </param>
    /// <param name="configuration">The settings as configuration; null: made from <paramref name="options"/> (tests, benches).</param>
    /// <param name="configureWebHost">
    /// Last say over the web host; the unit tests swap Kestrel for an in-memory TestServer with it.
    /// </param>
    public static ProvisionerServer Build(ServerOptions options, IConfiguration? configuration = null, Action<IWebHostBuilder>? configureWebHost = null)
    {
        configuration ??= ServerConfiguration.From(options);
        var renderer = new IgnitionRenderer(new TextTemplates());

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ContentRootPath = Directory.GetCurrentDirectory() });
        builder.Host.UseSystemd();
        builder.Services.AddSerilog(lc =>
        {
            lc.MinimumLevel.Is(options.MinimumLogLevel)
              .MinimumLevel.Override("Microsoft", Serilog.Events.LogEventLevel.Warning)
              .MinimumLevel.Override("Microsoft.Hosting.Lifetime", Serilog.Events.LogEventLevel.Information)
              // A service that cannot start (a port in use) throws out of StartAsync to the command line, which
              // prints it as one line; the host's own "Hosting failed to start" record would repeat it as a stack trace.
              .MinimumLevel.Override("Microsoft.Extensions.Hosting.Internal.Host", Serilog.Events.LogEventLevel.Fatal)
              .Enrich.FromLogContext()
              .Enrich.With<ControlCharacterEscaper>();
            const string textTemplate = "[{Timestamp:HH:mm:ss} {Level:u3}] {Message:lj}{NewLine}{Exception}";
            if (Console.IsOutputRedirected)
            {
                // The journal, a file or a pipe: lines are written in batches off the request threads (one request log
                // line per request made the synchronous console sink the most expensive part of serving a config).
                lc.WriteTo.Sink(new BatchingConsoleSink(options.LogFormat == LogFormat.Json
                    ? new RenderedCompactJsonFormatter()
                    : new Serilog.Formatting.Display.MessageTemplateTextFormatter(textTemplate)));
            }
            else if (options.LogFormat == LogFormat.Json) lc.WriteTo.Console(new RenderedCompactJsonFormatter());
            else lc.WriteTo.Console(outputTemplate: textTemplate);
        });

        builder.WebHost.ConfigureKestrel(k =>
        {
            k.AddServerHeader = false;
            k.Limits.MaxRequestBodySize = 64 * 1024;
            k.Limits.MaxRequestHeadersTotalSize = 32 * 1024;
            k.Limits.MaxRequestLineSize = 8 * 1024;
            // Runs when the server starts (Kestrel is created then), after the options were checked: the plan loads
            // the catalog for the default addresses.
            var plan = k.ApplicationServices.GetRequiredService<ListenPlan>();
            foreach (var l in plan.Http) k.Listen(l.Address, l.Port);
            // The certificate is loaded (or issued) when the server starts, before Kestrel binds: read it per handshake
            // (ServingTls needs the server itself, so it cannot be resolved while Kestrel is being configured).
            foreach (var l in plan.Tls)
                k.Listen(l.Address, l.Port, o => o.UseHttps(h => h.ServerCertificateSelector = (_, _) => k.ApplicationServices.GetRequiredService<ServingTls>().Certificate));
        });
        configureWebHost?.Invoke(builder.WebHost);

        var services = builder.Services;
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton(renderer);
        services.AddSingleton(options);
        var clusterDirectory = new ClusterDirectoryPath(options.ResolvedClusterDirectory);
        services.AddSingleton(clusterDirectory);
        services.AddSingleton<ProvisionerMetrics>();
        services.AddSingleton<MachineRegistry>();
        services.AddAssets(configuration);
        // The catalog is loaded when the store is first resolved, which is when the server starts (the hosted
        // services are resolved then); bad profiles throw ProfileValidationException out of StartAsync.
        services.AddSingleton(sp => new CatalogStore(LoadCatalog(options, renderer), Sources(options), renderer, sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<CatalogStore>>(), options.ReloadDebounce));
        services.AddHostedService(sp => sp.GetRequiredService<CatalogStore>());
        services.AddSingleton(sp => ListenPlan.Decide(options, sp.GetRequiredService<CatalogStore>(), sp.GetRequiredService<ILogger<ProvisionerServer>>()));
        services.AddSingleton(sp => sp.GetRequiredService<ListenPlan>().Endpoints);
        services.AddMachineState(clusterDirectory);
        services.AddOperatorCredential(clusterDirectory);
        services.AddClusterAssets();
        // The tunables first: the capabilities register their defaults only where none is registered.
        services.AddSingleton(options.Delivery);
        services.AddSingleton(new ApproverTuning(options.Approver));
        services.AddSingleton(options.Console);
        services.AddSecretDelivery(configuration);
        // After the cluster assets: it starts from their token store and rendered directory.
        services.AddSingleton<PreparedIgnition>();
        services.AddHostedService(sp => sp.GetRequiredService<PreparedIgnition>());
        services.AddSingleton<PreparedIpxe>();
        services.AddApprover(configuration);
        services.AddReleaseMirror(configuration);
        services.AddPxe(configuration);
        services.AddConsole();

        var app = builder.Build();
        app.UseMiddleware<RequestTelemetry>();
        app.UseMiddleware<BadRequestGuard>();
        app.MapBootEndpoints();
        app.MapIgnitionEndpoints();
        app.MapApiEndpoints();
        app.MapReprovision();
        app.MapAssets((context, path) => BootAssetTracking.Record(context, path,
            context.RequestServices.GetRequiredService<CatalogStore>(), context.RequestServices.GetRequiredService<MachineRegistry>()));
        app.MapReleaseMirror();
        app.MapRegistry();
        app.MapPxe();
        app.MapConsole();
        // Said once at start: with the shipped fallback, edits to some other ignition-templates/ would not show.
        app.Logger.LogInformation("Ignition templates from {TemplatesDirectory} ({TemplatesOrigin})",
            Path.GetFullPath(options.TemplatesDirectory), options.TemplatesOrigin ?? "given");
        return new ProvisionerServer(app);
    }

    /// <summary>Each plain listen address on port 8443 (on port 0, a free port, where the plain listener asks for one).</summary>
    public static IReadOnlyList<ListenAddress> DefaultListenTls(IReadOnlyList<ListenAddress> listen) =>
        [.. listen.Select(l => new ListenAddress(l.Address, l.Port == 0 ? 0 : ServerOptions.DefaultTlsPort)).Distinct()];

    /// <summary>127.0.0.1:8080 plus the address of the configured provisionerUrl when it belongs to this host.</summary>
    public static IReadOnlyList<ListenAddress> DefaultListen(ClusterSpec cluster, out string? warning)
    {
        warning = null;
        var result = new List<ListenAddress> { ListenAddress.Default };
        if (cluster.ProvisionerUrl is not { } url) return result;
        if (!IPAddress.TryParse(url.Host.Trim('[', ']'), out var ip))
        {
            warning = $"provisionerUrl host '{url.Host}' is a name; listening on {ListenAddress.Default} only (give --listen for more)";
            return result;
        }
        var candidate = new ListenAddress(ip, url.Port);
        if (result.Contains(candidate)) return result;
        if (IsLocalAddress(ip)) result.Add(candidate);
        else warning = $"provisionerUrl {url} names {ip}, which is not an address of this host; not listening on it (machines will not reach this server there)";
        return result;
    }

    private static bool IsLocalAddress(IPAddress ip) =>
        IPAddress.IsLoopback(ip) || NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(n => n.GetIPProperties().UnicastAddresses).Any(a => a.Address.Equals(ip));

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        try
        {
            // Every capability's options first, all problems at once: the host itself resolves its hosted services
            // (and with them some options, one failure at a time, and the catalog) before it runs this validator.
            _app.Services.GetRequiredService<IStartupValidator>().Validate();
            await _app.StartAsync(cancellationToken);
        }
        catch
        {
            _startFailed = true;
            throw;
        }
    }

    /// <summary>Starts, then runs until <paramref name="cancellationToken"/> or a shutdown signal; disposing stops it.</summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        await StartAsync(cancellationToken);
        await _app.WaitForShutdownAsync(cancellationToken);
    }

    private bool _startFailed;

    public async ValueTask DisposeAsync()
    {
        try { await _app.StopAsync(CancellationToken.None); }
        catch (OperationCanceledException) { }
        // When start failed before the host resolved its services (a setting checked at start, bad profiles), the
        // host's StopAsync has nothing to stop and throws ArgumentNullException over its missing service list.
        catch (ArgumentNullException) when (_startFailed) { }
        await _app.DisposeAsync();
    }
}
