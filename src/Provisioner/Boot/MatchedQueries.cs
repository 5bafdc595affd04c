using System.Collections.Concurrent;
using Microsoft.AspNetCore.Http;
using Provisioner.Catalog;
using Provisioner.Profiles;

namespace Provisioner.Boot;

/// <summary>What a request's query string identified: the parsed identity, the matched machine (null: unknown), or why it is a 400.</summary>
internal readonly record struct QueryOutcome(MachineQuery? Query, MachineMatch? Match, string? Error);

/// <summary>
/// Parses and matches each distinct query string once per catalog snapshot: a booting machine asks with the same
/// query string every time, so <c>/ipxe</c> and <c>/ignition</c> look the answer up instead of parsing the query and
/// scanning the profiles per request. The result is a pure function of the query string and the snapshot, so it is
/// exactly what <see cref="BootQuery.TryParse"/> and <see cref="MachineMatcher.Match"/> say.
/// </summary>
internal sealed class MatchedQueries
{
    // Only queries that matched a machine are kept, and at most this many per snapshot, none longer than
    // MaxQueryLength: arbitrary extra parameters beside a valid MAC must not grow memory without bound.
    private const int MaxEntries = 2048;
    private const int MaxQueryLength = 512;

    private sealed record Table(CatalogSnapshot Snapshot, ConcurrentDictionary<string, QueryOutcome> Entries);

    private volatile Table _table = new(null!, new(StringComparer.Ordinal));

    public QueryOutcome Match(CatalogSnapshot snapshot, HttpRequest request)
    {
        var raw = request.QueryString.Value ?? "";
        var table = _table;
        if (!ReferenceEquals(table.Snapshot, snapshot))
        {
            table = new Table(snapshot, new(StringComparer.Ordinal));
            _table = table;
        }
        if (table.Entries.TryGetValue(raw, out var known)) return known;

        if (!BootQuery.TryParse(request.Query, out var query, out var error)) return new QueryOutcome(null, null, error);
        var outcome = new QueryOutcome(query, MachineMatcher.Match(snapshot.Profiles, query), null);
        if (outcome.Match is not null && raw.Length <= MaxQueryLength && table.Entries.Count < MaxEntries)
            table.Entries.TryAdd(raw, outcome);
        return outcome;
    }
}
