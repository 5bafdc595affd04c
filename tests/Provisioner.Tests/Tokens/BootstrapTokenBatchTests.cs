using Microsoft.Extensions.Time.Testing;
using Provisioner.Tokens;

namespace Provisioner.Tests.Tokens;

/// <summary>Minting for many machines at once (a cluster render): same rules as one at a time, one write.</summary>
public sealed class BootstrapTokenBatchTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tokens-batch-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
    private CancellationToken Ct => TestContext.Current.CancellationToken;
    private string StorePath => Path.Combine(_dir, "auth", BootstrapTokenStore.FileName);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<BootstrapTokenStore> OpenAsync() => BootstrapTokenStore.OpenAsync(StorePath, _time, TimeSpan.FromHours(24), Ct);

    [Fact]
    public async Task Batch_mints_only_for_machines_without_a_fresh_token_and_persists_them()
    {
        var store = await OpenAsync();
        var existing = await store.GetOrMintAsync("worker-1", Ct);
        var changes = 0;
        store.Changed += () => changes++;

        var tokens = await store.GetOrMintAsync(["worker-1", "worker-2", "cp-0", "worker-2"], Ct);

        Assert.Equal(existing, tokens["worker-1"]);
        Assert.Equal(3, tokens.Count);
        Assert.Equal(3, tokens.Values.Select(t => t.Id).Distinct().Count());
        Assert.Equal(1, changes);
        var reopened = await OpenAsync();
        Assert.Equal(tokens["cp-0"], reopened.FindForMachine("cp-0"));
        Assert.Equal(tokens["worker-2"], reopened.FindForMachine("worker-2"));
    }

    [Fact]
    public async Task Batch_with_every_token_fresh_writes_nothing()
    {
        var store = await OpenAsync();
        await store.GetOrMintAsync(["a", "b"], Ct);
        FileTimes.Age(StorePath); // a rewrite would show in the mtime
        var mtime = File.GetLastWriteTimeUtc(StorePath);
        var changes = 0;
        store.Changed += () => changes++;
        await store.GetOrMintAsync(["a", "b"], Ct);
        Assert.Equal(0, changes);
        Assert.Equal(mtime, File.GetLastWriteTimeUtc(StorePath));
    }
}
