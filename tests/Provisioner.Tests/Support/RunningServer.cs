using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Provisioner.Hosting;

namespace Provisioner.Tests.Support;

/// <summary>
/// The real Provisioner server with an HttpClient pointed at it: on a free loopback port (<see cref="StartAsync"/>,
/// for functional tests) or in memory on ASP.NET Core's TestServer (<see cref="StartInMemoryAsync"/>, for unit tests:
/// the same services, middleware and endpoints, no socket).
/// </summary>
public sealed class RunningServer : IAsyncDisposable
{
    private RunningServer(ProvisionerServer server, HttpClient client)
    {
        Server = server;
        Client = client;
    }

    internal ProvisionerServer Server { get; }
    public HttpClient Client { get; }
    public Uri BaseAddress => Client.BaseAddress!;

    /// <summary>Kestrel on a free loopback port: tests that use it belong in <see cref="Category.Integration"/>.</summary>
    internal static async Task<RunningServer> StartAsync(ProfileTree tree, Func<ServerOptions, ServerOptions>? configure = null)
    {
        var server = ProvisionerServer.Build(Options(tree, configure));
        await server.StartAsync(TestContext.Current.CancellationToken);
        var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        return new RunningServer(server, client);
    }

    /// <summary>The same server on an in-memory TestServer (http://localhost/): no port, no socket.</summary>
    internal static async Task<RunningServer> StartInMemoryAsync(ProfileTree tree, Func<ServerOptions, ServerOptions>? configure = null)
    {
        var server = ProvisionerServer.Build(Options(tree, configure), configureWebHost: web => web.UseTestServer());
        await server.StartAsync(TestContext.Current.CancellationToken);
        var client = ((TestServer)server.Services.GetRequiredService<IServer>()).CreateClient();
        client.Timeout = TimeSpan.FromSeconds(30);
        return new RunningServer(server, client);
    }

    private static ServerOptions Options(ProfileTree tree, Func<ServerOptions, ServerOptions>? configure)
    {
        var options = new ServerOptions
        {
            ProfilesDirectory = tree.Profiles,
            TemplatesDirectory = tree.Templates,
            AssetsDirectory = tree.Assets,
            Listen = [new ListenAddress(IPAddress.Loopback, 0)],
            MinimumLogLevel = Serilog.Events.LogEventLevel.Warning,
            ReloadDebounce = TimeSpan.FromMilliseconds(100),
            // The example profiles' API endpoint is not a test address: tests that exercise the approver give it
            // a kubeconfig for the fake API server on loopback.
            Approver = new global::Provisioner.Approval.ApproverOptions { Enabled = false },
        };
        return configure?.Invoke(options) ?? options;
    }

    /// <summary>Every entry of <c>/api/v1/machines</c>, detached from the parsed document.</summary>
    public async Task<IReadOnlyList<JsonElement>> MachinesAsync(CancellationToken cancellationToken)
    {
        using var doc = JsonDocument.Parse(await Client.GetStringAsync("/api/v1/machines", cancellationToken));
        return [.. doc.RootElement.GetProperty("machines").EnumerateArray().Select(m => m.Clone())];
    }

    /// <summary>The <c>/api/v1/machines</c> entry of the known machine called <paramref name="name"/>.</summary>
    public async Task<JsonElement> MachineAsync(string name, CancellationToken cancellationToken) =>
        (await MachinesAsync(cancellationToken)).Single(m => m.TryGetProperty("name", out var n) && n.GetString() == name);

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await Server.DisposeAsync();
    }
}
