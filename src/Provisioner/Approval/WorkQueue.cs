using System.Threading.Channels;

namespace Provisioner.Approval;

/// <summary>
/// The names of objects to reconcile, with the guarantees of client-go's workqueue: a name is queued at most
/// once however often it is added, is processed by one worker at a time, and a name added while it is being
/// processed is processed again once that worker is done. Workers take names as they come — no batches — so
/// the first CSRs of a join storm are decided while the last ones are still being created.
/// </summary>
internal sealed class WorkQueue
{
    private readonly object _gate = new();
    private readonly HashSet<string> _dirty = new(StringComparer.Ordinal);
    private readonly HashSet<string> _processing = new(StringComparer.Ordinal);
    private readonly Channel<string> _ready = Channel.CreateUnbounded<string>();

    public void Add(string name)
    {
        lock (_gate)
        {
            if (!_dirty.Add(name) || _processing.Contains(name)) return;
            _ready.Writer.TryWrite(name);
        }
    }

    /// <summary>The next name; the caller must call <see cref="Done"/> with it.</summary>
    public async ValueTask<string> TakeAsync(CancellationToken cancellationToken)
    {
        var name = await _ready.Reader.ReadAsync(cancellationToken);
        lock (_gate)
        {
            // Every name in the channel is dirty and not processing: Add writes it only then, Done only then.
            _dirty.Remove(name);
            _processing.Add(name);
        }
        return name;
    }

    public void Done(string name)
    {
        lock (_gate)
        {
            _processing.Remove(name);
            if (_dirty.Contains(name)) _ready.Writer.TryWrite(name);
        }
    }

    /// <summary>Nothing queued and nothing being processed.</summary>
    public bool IsIdle { get { lock (_gate) return _dirty.Count == 0 && _processing.Count == 0; } }

    /// <summary>
    /// Waits until the queue is idle, at most <paramref name="atMost"/>: work that can wait (Events, token
    /// clean-up) yields to decisions during a join storm without being starved by a steady trickle.
    /// </summary>
    public async Task WhenIdleAsync(TimeSpan atMost, TimeProvider time, CancellationToken cancellationToken)
    {
        var until = time.GetUtcNow() + atMost;
        while (!IsIdle && time.GetUtcNow() < until)
            await Task.Delay(TimeSpan.FromMilliseconds(20), time, cancellationToken);
    }
}
