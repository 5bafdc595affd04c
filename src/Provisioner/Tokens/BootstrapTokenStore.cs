using System.Collections.Immutable;
using System.Text.Json;
using System.Text.Json.Serialization;
using Provisioner.Primitives;

namespace Provisioner.Tokens;

/// <summary>
/// The per-machine bootstrap tokens Provisioner has issued, persisted (0600, atomically) in
/// <c>&lt;cluster-dir&gt;/auth/bootstrap-tokens.json</c> so a restart neither forgets a token a machine
/// already carries nor hands the same machine a second one. Every change re-reads the file under an exclusive
/// lock (<c>bootstrap-tokens.json.lock</c>), so <c>provisioner render</c> and a running <c>serve</c> on the
/// same cluster directory never overwrite each other's tokens.
/// </summary>
internal sealed class BootstrapTokenStore
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

    /// <summary>Raised after a token is minted or revoked, here or (seen by <see cref="RefreshAsync"/>) by another process.</summary>
    public event Action? Changed;

    /// <summary>The token file.</summary>
    public string FilePath => _path;

    /// <summary>
    /// Re-reads the file, which another process (<c>provisioner render</c>) may have changed, and raises
    /// <see cref="Changed"/> when the tokens differ from what this instance knew.
    /// </summary>
    public async Task RefreshAsync(CancellationToken cancellationToken)
    {
        bool changed;
        await _gate.WaitAsync(cancellationToken);
        try
        {
            // Writes are atomic renames, so a read needs no lock to see a whole file.
            var current = await ReadAsync(_path, cancellationToken);
            changed = DiffersFromKnown(current);
            _byId = current;
        }
        finally { _gate.Release(); }
        if (changed) Changed?.Invoke();
    }

    /// <summary>Opens the store at <paramref name="path"/>; a missing file is an empty store, a corrupt one an error.</summary>
    public static async Task<BootstrapTokenStore> OpenAsync(string path, TimeProvider time, TimeSpan lifetime, CancellationToken cancellationToken)
    {
        var full = Path.GetFullPath(path);
        return new BootstrapTokenStore(full, time, lifetime, await ReadAsync(full, cancellationToken));
    }

    /// <summary>Every issued token, expired ones included until they are pruned.</summary>
    public ImmutableArray<BootstrapToken> All => [.. _byId.Values.OrderBy(t => t.MachineName, StringComparer.Ordinal).ThenBy(t => t.IssuedAt)];

    public BootstrapToken? FindById(string id) => _byId.GetValueOrDefault(id);

    /// <summary>Every token issued to the machine and not revoked, expired ones included until they are pruned.</summary>
    public ImmutableArray<BootstrapToken> ForMachine(string machineName) => ByMachine().GetValueOrDefault(machineName, []);

    // The approver asks per decision: an index, built once per set of tokens (they change rarely).
    private sealed record MachineIndex(ImmutableDictionary<string, BootstrapToken> Source, Dictionary<string, ImmutableArray<BootstrapToken>> Index);

    private MachineIndex? _byMachine;

    private Dictionary<string, ImmutableArray<BootstrapToken>> ByMachine()
    {
        var tokens = _byId;
        if (Volatile.Read(ref _byMachine) is { } cached && ReferenceEquals(cached.Source, tokens)) return cached.Index;
        var index = tokens.Values.GroupBy(t => t.MachineName, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.ToImmutableArray(), StringComparer.Ordinal);
        Volatile.Write(ref _byMachine, new MachineIndex(tokens, index));
        return index;
    }

    /// <summary>The machine's newest unexpired token, or null.</summary>
    public BootstrapToken? FindForMachine(string machineName) => NewestFor(_byId, machineName);

    /// <summary>
    /// The machine's token: the existing one while it has more than a quarter of its lifetime left, else a
    /// new one (persisted before it is returned, so no config ever carries a token the store forgot).
    /// </summary>
    public async Task<BootstrapToken> GetOrMintAsync(string machineName, CancellationToken cancellationToken)
    {
        if (Usable(FindForMachine(machineName)) is { } existing) return existing;
        return (await GetOrMintAsync([machineName], cancellationToken))[machineName];
    }

    /// <summary>
    /// <see cref="GetOrMintAsync(string, CancellationToken)"/> for many machines with one write of the store
    /// (rendering a 100-machine cluster would otherwise rewrite and fsync the file 100 times).
    /// </summary>
    public Task<IReadOnlyDictionary<string, BootstrapToken>> GetOrMintAsync(IEnumerable<string> machineNames, CancellationToken cancellationToken) =>
        UpdateAsync<IReadOnlyDictionary<string, BootstrapToken>>(tokens =>
        {
            var result = new Dictionary<string, BootstrapToken>(StringComparer.Ordinal);
            foreach (var name in machineNames.Distinct(StringComparer.Ordinal))
            {
                if (Usable(NewestFor(tokens, name)) is { } existing)
                {
                    result[name] = existing;
                    continue;
                }
                var token = BootstrapToken.Mint(name, _time.GetUtcNow(), _lifetime);
                while (tokens.ContainsKey(token.Id)) token = BootstrapToken.Mint(name, _time.GetUtcNow(), _lifetime);
                tokens = tokens.SetItem(token.Id, token);
                result[name] = token;
            }
            return (tokens, result);
        }, cancellationToken);

    /// <summary>Forgets a token (after its machine's node-client CSR was approved); false when unknown.</summary>
    public async Task<bool> RevokeAsync(string id, CancellationToken cancellationToken) =>
        (await RevokeAsync([id], cancellationToken)).Length == 1;

    /// <summary>Forgets several tokens with one write of the store; returns those it knew.</summary>
    public Task<ImmutableArray<BootstrapToken>> RevokeAsync(IReadOnlyCollection<string> ids, CancellationToken cancellationToken) =>
        UpdateAsync(tokens =>
        {
            ImmutableArray<BootstrapToken> known = [.. ids.Distinct(StringComparer.Ordinal).Select(tokens.GetValueOrDefault).OfType<BootstrapToken>()];
            return (tokens.RemoveRange(known.Select(t => t.Id)), known);
        }, cancellationToken);

    /// <summary>Drops expired tokens; returns them so their Secrets can be deleted too.</summary>
    public Task<ImmutableArray<BootstrapToken>> PruneExpiredAsync(CancellationToken cancellationToken) =>
        UpdateAsync(tokens =>
        {
            var now = _time.GetUtcNow();
            ImmutableArray<BootstrapToken> expired = [.. tokens.Values.Where(t => t.IsExpiredAt(now))];
            return (tokens.RemoveRange(expired.Select(t => t.Id)), expired);
        }, cancellationToken);

    private BootstrapToken? NewestFor(ImmutableDictionary<string, BootstrapToken> tokens, string machineName) =>
        tokens.Values.Where(t => t.MachineName == machineName && !t.IsExpiredAt(_time.GetUtcNow()))
            .OrderByDescending(t => t.Expires).FirstOrDefault();

    private BootstrapToken? Usable(BootstrapToken? token) =>
        token is not null && token.Expires - _time.GetUtcNow() > _lifetime / 4 ? token : null;

    /// <summary>
    /// Applies <paramref name="change"/> to the tokens as they are on disk now (another process may have written
    /// since), writes the result when it differs, and raises <see cref="Changed"/> when it did.
    /// </summary>
    private async Task<T> UpdateAsync<T>(Func<ImmutableDictionary<string, BootstrapToken>, (ImmutableDictionary<string, BootstrapToken> Next, T Result)> change,
        CancellationToken cancellationToken)
    {
        bool changed;
        T result;
        await _gate.WaitAsync(cancellationToken);
        try
        {
            await using var fileLock = await FileLock.AcquireAsync(_path, cancellationToken);
            var current = await ReadAsync(_path, cancellationToken);
            (var next, result) = change(current);
            changed = DiffersFromKnown(next);
            if (!next.Keys.ToHashSet().SetEquals(current.Keys))
            {
                var text = JsonSerializer.Serialize(new StoredTokens([.. next.Values.OrderBy(t => t.Id, StringComparer.Ordinal)]), Json);
                await AtomicFile.WriteAsync(_path, text, AtomicFile.PrivateMode, cancellationToken);
            }
            _byId = next;
        }
        finally { _gate.Release(); }
        if (changed) Changed?.Invoke();
        return result;
    }

    /// <summary>Whether <paramref name="tokens"/> is another set of tokens than this instance knows (raise <see cref="Changed"/>).</summary>
    private bool DiffersFromKnown(ImmutableDictionary<string, BootstrapToken> tokens) => !tokens.Keys.ToHashSet().SetEquals(_byId.Keys);

    private static async Task<ImmutableDictionary<string, BootstrapToken>> ReadAsync(string path, CancellationToken cancellationToken)
    {
        var tokens = ImmutableDictionary<string, BootstrapToken>.Empty;
        if (!File.Exists(path)) return tokens;
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
        return tokens;
    }

    private sealed record StoredTokens([property: JsonPropertyName("tokens")] ImmutableArray<BootstrapToken> Tokens);
}
