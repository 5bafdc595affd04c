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

    /// <summary>Edits the profiles before the server starts (none by default).</summary>
    protected virtual void EditProfiles(ProfileTree tree) { }

    public async ValueTask InitializeAsync()
    {
        EditProfiles(Tree);
        Server = await RunningServer.StartAsync(Tree);
    }

    public async ValueTask DisposeAsync()
    {
        await Server.DisposeAsync();
        Tree.Dispose();
        GC.SuppressFinalize(this);
    }
}
