using System.Collections.Concurrent;

namespace Provisioner.FakeKubernetes;

/// <summary>
/// The failures tests script, each taken once by the request it hits: 410 Gone on the next watch, another writer
/// changing an object just before the next update (a genuine 409 Conflict), and 503 while "starting". Outages
/// (connections refused) belong to <see cref="FakeKubernetesApi"/>, which owns the listener.
/// </summary>
internal sealed class FaultInjector
{
    private const string AnyKind = "*";
    private readonly ConcurrentDictionary<string, int> _goneOnNextWatch = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int> _interventions = new(StringComparer.Ordinal);
    private volatile bool _unavailable;

    /// <summary>While true, every request is answered 503, as an API server that is still starting.</summary>
    public bool Unavailable { get => _unavailable; set => _unavailable = value; }

    /// <summary>The next watch (of <paramref name="plural"/> only, when given) is answered 410 Gone.</summary>
    public void ForceGoneOnNextWatch(string? plural) => _goneOnNextWatch[plural ?? AnyKind] = 1;

    /// <summary>Whether this watch of <paramref name="plural"/> is the one to answer 410 Gone; it uses the fault up.</summary>
    public bool TakeForcedGone(string plural) => _goneOnNextWatch.TryRemove(plural, out _) || _goneOnNextWatch.TryRemove(AnyKind, out _);

    /// <summary>Before the next update of a <paramref name="plural"/> object, another writer changes that object first.</summary>
    public void InterveneBeforeNextUpdate(string plural) => _interventions.AddOrUpdate(plural, 1, (_, n) => n + 1);

    /// <summary>Interventions on <paramref name="plural"/> that no update has met yet.</summary>
    public int PendingInterventions(string plural) => _interventions.GetValueOrDefault(plural);

    /// <summary>Whether this update of a <paramref name="plural"/> object is to meet an intervention; it uses one up.</summary>
    public bool TakeIntervention(string plural)
    {
        while (_interventions.TryGetValue(plural, out var n) && n > 0)
            if (_interventions.TryUpdate(plural, n - 1, n)) return true;
        return false;
    }
}
