using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using Provisioner.Pki;

namespace Provisioner.Tokens;

/// <summary>
/// The per-machine bootstrap tokens Provisioner has issued, persisted (0600, atomically) in
/// <c>&lt;cluster-dir&gt;/auth/bootstrap-tokens.json</c> so a restart neither forgets a token a machine
/// already carries nor hands the same machine a second one.
/// </summary>
public sealed class BootstrapTokenStore
{
    public const string FileName = "bootstrap-tokens.json";

    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private readonly string _path;
    private readonly TimeProvider _time;
    private readonly TimeSpan _lifetime;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private ImmutableDictionary<string, BootstrapToken> _byId;

    private BootstrapTokenStore(string path, TimeProvider time, TimeSpan lifetime, ImmutableDictionary<string, BootstrapToken> byId)
    {
        _path = path;
        _time = time;
        _lifetime = lifetime;
        _byId = byId;
    }

    /// <summary>How long a freshly minted token is valid; the approver's Ignition-fetch window by default.</summary>
    public TimeSpan Lifetime => _lifetime;

    /// <summary>Raised after a token is minted or revoked (the approver syncs Secrets on it).</summary>
    public event Action? Changed;

    /// <summary>Opens the store at <paramref name="path"/>; a missing file is an empty store, a corrupt one an error.</summary>
    public static async Task<BootstrapTokenStore> OpenAsync(string path, TimeProvider time, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var tokens = ImmutableDictionary<string, BootstrapToken>.Empty;
        if (File.Exists(path))
        {
            await using var stream = File.OpenRead(path);
            StoredTokens? stored;
            try { stored = await JsonSerializer.DeserializeAsync<StoredTokens>(stream, Json, cancellationToken); }
            catch (JsonException e) { throw new InvalidDataException($"{path}: not a bootstrap token file: {e.Message}", e); }
            foreach (var t in stored?.Tokens ?? [])
            {
                if (!BootstrapToken.IsValidValue($"{t.Id}.{t.Secret}") || string.IsNullOrEmpty(t.MachineName))
                    throw new InvalidDataException($"{path}: token '{t.Id}' is malformed");
                tokens = tokens.SetItem(t.Id, t);
            }
        }
        return new BootstrapTokenStore(Path.GetFullPath(path), time, lifetime, tokens);
    }

    /// <summary>Every issued token, expired ones included until they are pruned.</summary>
    public ImmutableArray<BootstrapToken> All => [.. _byId.Values.OrderBy(t => t.MachineName, StringComparer.Ordinal).ThenBy(t => t.IssuedAt)];

    public BootstrapToken? FindById(string id) => _byId.GetValueOrDefault(id);

    /// <summary>The machine's newest unexpired token, or null.</summary>
    public BootstrapToken? FindForMachine(string machineName) =>
        _byId.Values.Where(t => t.MachineName == machineName && !t.IsExpiredAt(_time.GetUtcNow()))
            .OrderByDescending(t => t.Expires).FirstOrDefault();

    /// <summary>
    /// The machine's token: the existing one while it has more than a quarter of its lifetime left, else a
    /// new one (persisted before it is returned, so no config ever carries a token the store forgot).
    /// </summary>
    public async Task<BootstrapToken> GetOrMintAsync(string machineName, CancellationToken cancellationToken)
    {
        if (Usable(FindForMachine(machineName)) is { } existing) return existing;
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (Usable(FindForMachine(machineName)) is { } raced) return raced;
            var minted = BootstrapToken.Mint(machineName, _time.GetUtcNow(), _lifetime);
            while (_byId.ContainsKey(minted.Id)) minted = BootstrapToken.Mint(machineName, _time.GetUtcNow(), _lifetime);
            await SaveAsync(_byId.SetItem(minted.Id, minted), cancellationToken);
            Changed?.Invoke();
            return minted;
        }
        finally { _gate.Release(); }
    }

    /// <summary>Forgets a token (after its machine's node-client CSR was approved); false when unknown.</summary>
    public async Task<bool> RevokeAsync(string id, CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        try
        {
            if (!_byId.ContainsKey(id)) return false;
            await SaveAsync(_byId.Remove(id), cancellationToken);
        }
        finally { _gate.Release(); }
        Changed?.Invoke();
        return true;
    }

    /// <summary>Drops expired tokens; returns them so their Secrets can be deleted too.</summary>
    public async Task<ImmutableArray<BootstrapToken>> PruneExpiredAsync(CancellationToken cancellationToken)
    {
        await _gate.WaitAsync(cancellationToken);
        ImmutableArray<BootstrapToken> expired;
        try
        {
            var now = _time.GetUtcNow();
            expired = [.. _byId.Values.Where(t => t.IsExpiredAt(now))];
            if (expired.IsEmpty) return expired;
            await SaveAsync(_byId.RemoveRange(expired.Select(t => t.Id)), cancellationToken);
        }
        finally { _gate.Release(); }
        Changed?.Invoke();
        return expired;
    }

    private BootstrapToken? Usable(BootstrapToken? token) =>
        token is not null && token.Expires - _time.GetUtcNow() > _lifetime / 4 ? token : null;

    private async Task SaveAsync(ImmutableDictionary<string, BootstrapToken> tokens, CancellationToken cancellationToken)
    {
        var text = JsonSerializer.Serialize(new StoredTokens([.. tokens.Values.OrderBy(t => t.Id, StringComparer.Ordinal)]), Json);
        await AtomicFile.WriteAsync(_path, text, AtomicFile.PrivateMode, cancellationToken);
        _byId = tokens;
    }

    private sealed record StoredTokens([property: JsonPropertyName("tokens")] ImmutableArray<BootstrapToken> Tokens);
}
