using System.Collections.Concurrent;
using System.Text;
using Microsoft.AspNetCore.Http;
using Provisioner.Catalog;
using Provisioner.Observability;
using Provisioner.Profiles;
using Provisioner.Release;

namespace Provisioner.Boot;

/// <summary>
/// Known machines' iPXE scripts, built once per catalog snapshot, base URL and query string (the script repeats the
/// identity the machine sent, so the query is part of what it is made of) and kept; a new snapshot starts afresh.
/// Where the profiles name release artifacts, whether each is in the store yet is checked per request (as before: a
/// script must not point at a blob that is missing) and is part of the key.
/// </summary>
internal sealed class PreparedIpxe(ProvisionerMetrics metrics)
{
    // Per snapshot; each machine asks with one or two query strings, so this bounds what arbitrary extra parameters
    // beside a valid identity can make us keep. Beyond it, scripts are built per request.
    private const int MaxEntries = 4096;

    private sealed record Table(CatalogSnapshot? Snapshot, ConcurrentDictionary<(string BaseUrl, string Query, ulong Present), PreparedScript> Entries);

    private volatile Table _table = new(null, new());

    public PreparedScript For(CatalogSnapshot snapshot, MachineSpec machine, MachineQuery query, string baseUrl, HttpRequest request, ContentStore releaseStore)
    {
        Func<string, BootArtifact?>? artifacts = null;
        ulong? present = 0;
        if (snapshot.Profiles.Release is not null)
        {
            artifacts = BootArtifacts.Resolver(snapshot.Profiles, releaseStore, Architectures.FromIpxe(request.Query["arch"].ToString()));
            present = Presence(snapshot.Profiles.Roles[machine.Role], artifacts!);
        }
        var table = _table;
        if (!ReferenceEquals(table.Snapshot, snapshot))
        {
            table = new Table(snapshot, new());
            _table = table;
        }
        var key = (baseUrl, request.QueryString.Value ?? "", present ?? 0);
        if (present is not null && table.Entries.TryGetValue(key, out var known)) return known;

        metrics.IpxeRenders.Inc();
        var body = PreparedScript.For(IpxeScripts.ForMachine(baseUrl, snapshot.Profiles, machine, query, artifacts, IpxeScripts.TicketPlaceholder));
        if (present is not null && table.Entries.Count < MaxEntries) table.Entries.TryAdd(key, body);
        return body;
    }

    /// <summary>
    /// One bit per boot reference of the role (the references IpxeScripts.ForMachine resolves), set when it is a
    /// release artifact in the store; null (build per request) for a role with more references than bits.
    /// </summary>
    private static ulong? Presence(RoleSpec role, Func<string, BootArtifact?> artifacts)
    {
        var references = new[] { role.Boot.Kernel }.Concat(role.Boot.Initrds)
            .Concat(role.Boot.Args.Select(a => a.Split('=', 2)).Where(kv => kv.Length == 2).Select(kv => kv[1]));
        ulong mask = 0;
        var bit = 0;
        foreach (var reference in references)
        {
            if (bit == 64) return null;
            if (artifacts(reference) is { Present: true }) mask |= 1UL << bit;
            bit++;
        }
        return mask;
    }
}

/// <summary>
/// A machine's prepared iPXE script, split once around <see cref="IpxeScripts.TicketPlaceholder"/>: an answer is the
/// parts with the fresh ticket between them, copied as bytes. A script without the placeholder (one that only waits
/// for a release artifact) is the same for every answer and carries an ETag.
/// </summary>
internal sealed class PreparedScript
{
    private static readonly byte[] Placeholder = Encoding.UTF8.GetBytes(IpxeScripts.TicketPlaceholder);
    private readonly byte[][] _parts;

    private PreparedScript(PreparedBody body, byte[][] parts) => (Body, _parts) = (body, parts);

    /// <summary>The script with the placeholder in place (and its ETag, for a script that needs no ticket).</summary>
    public PreparedBody Body { get; }

    public bool NeedsTicket => _parts.Length > 1;

    public static PreparedScript For(string script)
    {
        var bytes = Encoding.UTF8.GetBytes(script);
        var parts = new List<byte[]>();
        var rest = bytes.AsSpan();
        for (var i = rest.IndexOf(Placeholder); i >= 0; i = rest.IndexOf(Placeholder))
        {
            parts.Add(rest[..i].ToArray());
            rest = rest[(i + Placeholder.Length)..];
        }
        parts.Add(rest.ToArray());
        return new PreparedScript(PreparedBody.For(bytes), [.. parts]);
    }

    /// <summary>The script with <paramref name="ticket"/> (URL-safe ASCII) wherever the placeholder was.</summary>
    public byte[] WithTicket(string ticket)
    {
        var length = 0;
        foreach (var part in _parts) length += part.Length;
        var result = new byte[length + (_parts.Length - 1) * ticket.Length];
        var at = 0;
        for (var i = 0; i < _parts.Length; i++)
        {
            if (i > 0) at += Encoding.ASCII.GetBytes(ticket, result.AsSpan(at));
            _parts[i].CopyTo(result, at);
            at += _parts[i].Length;
        }
        return result;
    }
}
