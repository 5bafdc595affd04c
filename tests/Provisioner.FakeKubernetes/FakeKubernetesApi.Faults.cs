using System.Collections.Concurrent;
using System.Globalization;
using System.Buffers;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Provisioner.FakeKubernetes;

/// <summary>Faults the tests inject: outages (the process dies and comes back), dropped watches, 410 Gone, conflicts, 503s, 403s.</summary>
public sealed partial class FakeKubernetesApi
{
    private const string AnyKind = "*";
    private readonly ConcurrentDictionary<string, int> _goneOnNextWatch = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _interveneBeforeNextUpdate = new(StringComparer.Ordinal);
    private volatile bool _unavailable;
    private readonly ConcurrentDictionary<string, byte> _forbidden = new(StringComparer.Ordinal);
    private int _goneAnswers;

    // ---------------------------------------------------------------- outages

    /// <summary>
    /// The API server process dies: every open connection is reset (watches included) and the port is closed,
    /// so new connections are refused (ECONNREFUSED) until <see cref="ComeBackAsync"/>. Objects, users and the
    /// resourceVersion counter are kept, as etcd keeps them across an API server restart.
    /// </summary>
    public async Task GoDownAsync()
    {
        await _upDown.WaitAsync();
        try
        {
            if (_app is not { } app) return;
            _app = null;
            DropWatches(abort: true);
            // A cancelled token: Kestrel aborts every connection at once instead of draining them gracefully.
            try { await app.StopAsync(new CancellationToken(canceled: true)); }
            catch (OperationCanceledException) { }
            await app.DisposeAsync();
        }
        finally { _upDown.Release(); }
    }

    /// <summary>The API server is back on the same address, with the same objects.</summary>
    public async Task ComeBackAsync(CancellationToken cancellationToken = default)
    {
        await _upDown.WaitAsync(cancellationToken);
        try
        {
            if (_app is not null) return;
            _app = await ListenAsync(_baseAddress.Port, cancellationToken);
        }
        finally { _upDown.Release(); }
    }


    // ---------------------------------------------------------------- fault injection

    /// <summary>
    /// Ends every open watch (of <paramref name="plural"/> only, when given) now; <paramref name="abort"/> resets the
    /// connection instead of ending the response. Returns how many were dropped.
    /// </summary>
    public int DropWatches(bool abort = false, string? plural = null)
    {
        WatchSubscription[] open;
        lock (_gate) open = [.. _watches.Where(w => plural is null || w.Plural == plural)];
        foreach (var w in open) w.Drop(abort);
        return open.Length;
    }

    /// <summary>Forgets the event history, as etcd compaction does: a watch from any older resourceVersion gets 410 Gone.</summary>
    public void CompactHistory()
    {
        lock (_gate)
        {
            _compactedBefore = _resourceVersion + 1;
            _history.Clear();
        }
    }

    /// <summary>
    /// The next watch request (of <paramref name="plural"/> only, when given) is answered with a 410 Gone ERROR
    /// event whatever its resourceVersion.
    /// </summary>
    public void ForceGoneOnNextWatch(string? plural = null) => _goneOnNextWatch[plural ?? AnyKind] = 1;

    /// <summary>
    /// Before the next update (PUT) of a <paramref name="plural"/> object, another writer changes that object
    /// first, so the update carries a stale resourceVersion and gets a genuine 409 Conflict.
    /// </summary>
    public void InterveneBeforeNextUpdate(string plural) => _interveneBeforeNextUpdate.AddOrUpdate(plural, 1, (_, n) => n + 1);

    /// <summary>While true, every request is answered 503, as an API server that is still starting.</summary>
    public bool Unavailable { get => _unavailable; set => _unavailable = value; }

    /// <summary>
    /// Every request on <paramref name="plural"/> is answered 403 Forbidden, as RBAC answers a user without a
    /// binding for it, until <see cref="Permit"/>.
    /// </summary>
    public void Forbid(string plural) => _forbidden[plural] = 0;

    public void Permit(string plural) => _forbidden.TryRemove(plural, out _);
}
