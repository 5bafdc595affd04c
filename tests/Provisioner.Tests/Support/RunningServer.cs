using System.Net;
using System.Text.Json;
using Provisioner.Hosting;

namespace Provisioner.Tests.Support;

/// <summary>The real Provisioner server on a free loopback port, with an HttpClient pointed at it.</summary>
public sealed class RunningServer : IAsyncDisposable
{
    private RunningServer(ProvisionerServer server, HttpClient client)
    {
        Server = server;
        Client = client;
    }

    public ProvisionerServer Server { get; }
    public HttpClient Client { get; }
    public Uri BaseAddress => Server.BaseAddress;

    public static async Task<RunningServer> StartAsync(ProfileTree tree, Func<ServerOptions, ServerOptions>? configure = null)
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
        options = configure?.Invoke(options) ?? options;
        var server = ProvisionerServer.Build(options);
        await server.StartAsync(TestContext.Current.CancellationToken);
        var client = new HttpClient { BaseAddress = server.BaseAddress, Timeout = TimeSpan.FromSeconds(30) };
        return new RunningServer(server, client);
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
