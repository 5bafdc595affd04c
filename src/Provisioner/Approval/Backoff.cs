using System.Net.Sockets;

namespace Provisioner.Approval;

/// <summary>
/// Capped exponential backoff: initial, 2×, 4×, … up to a cap that depends on the failure. An API server that
/// cannot be reached at all (connection refused or reset, name not resolved, timeout) is tried again at least
/// every <c>unreachableMax</c>, so that the approver notices it within that long of its coming back (a
/// bootstrap → control-plane handover, an API server restart); an API server that answers with an error
/// (5xx, 403, …) is given up to <c>max</c> between attempts. Not thread-safe: one per retry loop.
/// </summary>
internal sealed class Backoff(TimeSpan initial, TimeSpan max, TimeSpan? unreachableMax = null)
{
    private readonly TimeSpan _initial = initial;
    private readonly TimeSpan _unreachableMax = unreachableMax is { } u && u < max ? u : max;
    private TimeSpan _next = initial;

    /// <summary>The approver's backoff: <see cref="ApproverOptions.BackoffInitial"/> … <see cref="ApproverOptions.BackoffMax"/>, <see cref="ApproverOptions.UnreachableBackoffMax"/> while unreachable.</summary>
    public static Backoff For(ApproverOptions options) => new(options.BackoffInitial, options.BackoffMax, options.UnreachableBackoffMax);

    /// <summary>The wait after a failure of an API server that answers.</summary>
    public TimeSpan Next() => Next(max);

    /// <summary>The wait after <paramref name="failure"/>: short when the API server could not be reached.</summary>
    public TimeSpan Next(Exception failure) => Next(IsUnreachable(failure) ? _unreachableMax : max);

    private TimeSpan Next(TimeSpan cap)
    {
        var current = _next < cap ? _next : cap;
        // Doubling from what was waited: after a run of short waits, errors of an answering API grow from there.
        _next = TimeSpan.FromTicks(Math.Min(max.Ticks, current.Ticks * 2));
        return current;
    }

    public void Reset() => _next = _initial;

    /// <summary>
    /// The API server did not answer at all: no connection (refused, reset, unreachable, DNS), or the connection
    /// broke or timed out before an answer. An HTTP status (HttpOperationException) or a watch ERROR is an answer.
    /// </summary>
    public static bool IsUnreachable(Exception failure) => failure switch
    {
        AggregateException { InnerExceptions.Count: 1 } a => IsUnreachable(a.InnerExceptions[0]),
        HttpRequestException { StatusCode: null } => true,
        IOException or SocketException or TimeoutException => true,
        // HttpClient's own timeout
        TaskCanceledException { InnerException: TimeoutException } => true,
        _ => false,
    };
}
