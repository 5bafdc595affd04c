using Microsoft.Extensions.Time.Testing;
using Provisioner.Tokens;

namespace Provisioner.Tests.Tokens;

public sealed class BootstrapTokenStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tokens-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));
    private static readonly TimeSpan Lifetime = TimeSpan.FromHours(24);
    private CancellationToken Ct => TestContext.Current.CancellationToken;
    private string StorePath => Path.Combine(_dir, "auth", BootstrapTokenStore.FileName);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<BootstrapTokenStore> OpenAsync() => BootstrapTokenStore.OpenAsync(StorePath, _time, Lifetime, Ct);

    [Fact]
    public async Task Minted_token_has_the_kubeadm_format_and_expires_after_the_lifetime()
    {
        var store = await OpenAsync();
        var token = await store.GetOrMintAsync("worker-1", Ct);
        Assert.Matches("^[a-z0-9]{6}\\.[a-z0-9]{16}$", token.Value);
        Assert.Equal("worker-1", token.MachineName);
        Assert.Equal(_time.GetUtcNow() + Lifetime, token.Expires);
        Assert.Equal("system:bootstrap:" + token.Id, token.UserName);
        Assert.Equal("bootstrap-token-" + token.Id, token.SecretName);
    }

    [Fact]
    public async Task Same_machine_gets_the_same_token_while_it_is_fresh()
    {
        var store = await OpenAsync();
        var first = await store.GetOrMintAsync("worker-1", Ct);
        _time.Advance(TimeSpan.FromHours(12));
        Assert.Equal(first, await store.GetOrMintAsync("worker-1", Ct));
    }

    [Fact]
    public async Task Machines_get_distinct_tokens()
    {
        var store = await OpenAsync();
        var a = await store.GetOrMintAsync("worker-1", Ct);
        var b = await store.GetOrMintAsync("worker-2", Ct);
        Assert.NotEqual(a.Id, b.Id);
        Assert.NotEqual(a.Secret, b.Secret);
    }

    [Fact]
    public async Task A_token_near_expiry_is_replaced_by_a_new_one()
    {
        var store = await OpenAsync();
        var first = await store.GetOrMintAsync("worker-1", Ct);
        _time.Advance(TimeSpan.FromHours(19));
        var second = await store.GetOrMintAsync("worker-1", Ct);
        Assert.NotEqual(first.Id, second.Id);
        Assert.Equal("worker-1", store.FindById(first.Id)?.MachineName); // the old one still authenticates until it expires
    }

    [Fact]
    public async Task Tokens_survive_a_restart()
    {
        var token = await (await OpenAsync()).GetOrMintAsync("worker-1", Ct);
        var reopened = await OpenAsync();
        Assert.Equal(token, reopened.FindById(token.Id));
        Assert.Equal(token, await reopened.GetOrMintAsync("worker-1", Ct));
    }

    [Fact]
    public async Task Store_file_is_private()
    {
        await (await OpenAsync()).GetOrMintAsync("worker-1", Ct);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(StorePath));
    }

    [Fact]
    public async Task Revoked_token_is_forgotten_and_persisted_so()
    {
        var store = await OpenAsync();
        var token = await store.GetOrMintAsync("worker-1", Ct);
        Assert.True(await store.RevokeAsync(token.Id, Ct));
        Assert.Null(store.FindById(token.Id));
        Assert.Null((await OpenAsync()).FindById(token.Id));
        Assert.False(await store.RevokeAsync(token.Id, Ct));
    }

    [Fact]
    public async Task Revoking_several_tokens_writes_the_store_once_and_returns_those_it_knew()
    {
        var store = await OpenAsync();
        var one = await store.GetOrMintAsync("worker-1", Ct);
        var two = await store.GetOrMintAsync("worker-2", Ct);
        var kept = await store.GetOrMintAsync("worker-3", Ct);
        var changes = 0;
        store.Changed += () => changes++;

        var revoked = await store.RevokeAsync([one.Id, two.Id, "unknown-id", one.Id], Ct);

        Assert.Equal(new[] { one.Id, two.Id }.Order(StringComparer.Ordinal), revoked.Select(t => t.Id).Order(StringComparer.Ordinal));
        Assert.Equal(1, changes);
        var reopened = await OpenAsync();
        Assert.Null(reopened.FindById(one.Id));
        Assert.Null(reopened.FindById(two.Id));
        Assert.NotNull(reopened.FindById(kept.Id));
    }

    [Fact]
    public async Task Refresh_sees_tokens_another_store_wrote_and_says_so_once()
    {
        var serve = await OpenAsync();
        var render = await OpenAsync();
        var changes = 0;
        serve.Changed += () => changes++;
        var minted = await render.GetOrMintAsync("worker-7", Ct);

        await serve.RefreshAsync(Ct);
        await serve.RefreshAsync(Ct);

        Assert.Equal(minted, serve.FindById(minted.Id));
        Assert.Equal(1, changes);
    }

    [Fact]
    public async Task Prune_removes_only_expired_tokens()
    {
        var store = await OpenAsync();
        var old = await store.GetOrMintAsync("worker-1", Ct);
        _time.Advance(TimeSpan.FromHours(23));
        var young = await store.GetOrMintAsync("worker-2", Ct);
        _time.Advance(TimeSpan.FromHours(2));
        var pruned = await store.PruneExpiredAsync(Ct);
        Assert.Equal([old], pruned);
        Assert.Equal([young], store.All);
    }

    [Fact]
    public async Task Changed_is_raised_when_a_token_is_minted()
    {
        var store = await OpenAsync();
        var raised = 0;
        store.Changed += () => raised++;
        await store.GetOrMintAsync("worker-1", Ct);
        await store.GetOrMintAsync("worker-1", Ct);
        Assert.Equal(1, raised);
    }

    [Fact]
    public async Task Concurrent_requests_for_one_machine_mint_one_token()
    {
        var store = await OpenAsync();
        var tokens = await Task.WhenAll(Enumerable.Range(0, 16).Select(_ => Task.Run(() => store.GetOrMintAsync("worker-1", Ct), Ct)));
        Assert.Single(tokens.Distinct());
        Assert.Single(store.All);
    }

    [Fact]
    public async Task Corrupt_store_file_is_an_error_naming_the_file()
    {
        Directory.CreateDirectory(Path.GetDirectoryName(StorePath)!);
        await File.WriteAllTextAsync(StorePath, "{ not json", Ct);
        var e = await Assert.ThrowsAsync<InvalidDataException>(OpenAsync);
        Assert.Contains(StorePath, e.Message);
    }

    [Fact]
    public async Task Secret_data_is_what_the_bootstrap_authenticator_reads()
    {
        var token = await (await OpenAsync()).GetOrMintAsync("worker-1", Ct);
        var data = token.SecretData();
        Assert.Equal(token.Id, data["token-id"]);
        Assert.Equal(token.Secret, data["token-secret"]);
        Assert.Equal("2026-11-26T12:00:00Z", data["expiration"]);
        Assert.Equal("true", data["usage-bootstrap-authentication"]);
        Assert.Equal(BootstrapToken.ExtraGroup, data["auth-extra-groups"]);
        Assert.StartsWith("system:bootstrappers:", data["auth-extra-groups"]);
    }

    [Fact]
    public async Task Two_stores_on_one_file_keep_each_others_tokens()
    {
        var serve = await OpenAsync();
        var render = await OpenAsync();
        var a = await serve.GetOrMintAsync("worker-1", Ct);
        var b = await render.GetOrMintAsync("worker-2", Ct);

        var onDisk = await OpenAsync();
        Assert.Equal(a, onDisk.FindById(a.Id));
        Assert.Equal(b, onDisk.FindById(b.Id));
    }

    [Fact]
    public async Task A_store_reuses_the_token_another_store_minted_for_the_machine()
    {
        var serve = await OpenAsync();
        var render = await OpenAsync();
        var minted = await serve.GetOrMintAsync("worker-1", Ct);

        Assert.Equal(minted, (await render.GetOrMintAsync(["worker-1"], Ct))["worker-1"]);
        Assert.Single((await OpenAsync()).All);
    }

    [Fact]
    public async Task Revoking_in_one_store_does_not_resurrect_or_drop_tokens_of_another()
    {
        var serve = await OpenAsync();
        var render = await OpenAsync();
        var a = await serve.GetOrMintAsync("worker-1", Ct);
        var b = await render.GetOrMintAsync("worker-2", Ct);

        Assert.True(await serve.RevokeAsync(b.Id, Ct));

        var onDisk = await OpenAsync();
        Assert.Equal([a], onDisk.All);
    }
}
