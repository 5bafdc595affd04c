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

    private sealed record Table(CatalogSnapshot? Snapshot, ConcurrentDictionary<(string BaseUrl, string Query, ulong Present), PreparedBody> Entries);

    private volatile Table _table = new(null, new());

    public PreparedBody For(CatalogSnapshot snapshot, MachineSpec machine, MachineQuery query, string baseUrl, HttpRequest request, ContentStore releaseStore)
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
        var body = PreparedBody.For(Encoding.UTF8.GetBytes(IpxeScripts.ForMachine(baseUrl, snapshot.Profiles, machine, query, artifacts, IpxeScripts.TicketPlaceholder)));
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
