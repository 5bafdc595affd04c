namespace Provisioner.WebConsole;

/// <summary>Settings of the web console and its change feed (<c>GET /api/v1/events</c>).</summary>
internal sealed record ConsoleOptions
{
    /// <summary>A machine that is not done and has shown no progress for this long is marked stuck.</summary>
    public TimeSpan StuckAfter { get; init; } = TimeSpan.FromMinutes(10);

    /// <summary>An SSE comment this often keeps idle connections (and proxies in between) from timing out.</summary>
    public TimeSpan KeepAlive { get; init; } = TimeSpan.FromSeconds(15);

    /// <summary>At most one snapshot per this interval, however many changes arrive (a boot storm is many changes).</summary>
    public TimeSpan Debounce { get; init; } = TimeSpan.FromMilliseconds(250);

    /// <summary>
    /// How often the feed compares the snapshot with the last one sent even without a change notification: the release
    /// store and profile reloads raise none, and comparing a few kilobytes of JSON is cheaper than wiring every source.
    /// </summary>
    public TimeSpan CheckInterval { get; init; } = TimeSpan.FromSeconds(2);
}
