namespace Provisioner.Tests.Support;

/// <summary>
/// Base for tests against the real server: a fresh copy of the example profiles and a server on a free
/// loopback port per test, both cleaned up afterwards.
/// </summary>
public abstract class ServerTest : IAsyncLifetime
{
    protected ProfileTree Tree { get; } = new();
    protected RunningServer Server { get; private set; } = null!;
    protected HttpClient Client => Server.Client;
    protected static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync() => Server = await RunningServer.StartAsync(Tree);

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Tree.Dispose();
        GC.SuppressFinalize(this);
    }
}
