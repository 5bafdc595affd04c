using System.Diagnostics;
using Provisioner.Approval;

namespace Provisioner.Tests.Approval;

public sealed class WorkQueueTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<string?> TryTakeAsync(WorkQueue queue)
    {
        using var soon = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        soon.CancelAfter(TimeSpan.FromMilliseconds(100));
        try { return await queue.TakeAsync(soon.Token); }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested) { return null; }
    }

    [Fact]
    public async Task Names_are_taken_in_the_order_they_were_added()
    {
        var queue = new WorkQueue();
        queue.Add("csr-b");
        queue.Add("csr-a");

        Assert.Equal("csr-b", await queue.TakeAsync(Ct));
        Assert.Equal("csr-a", await queue.TakeAsync(Ct));
    }

    [Fact]
    public async Task A_name_added_twice_before_it_is_taken_is_taken_once()
    {
        var queue = new WorkQueue();
        queue.Add("csr-a");
        queue.Add("csr-a");

        Assert.Equal("csr-a", await queue.TakeAsync(Ct));
        Assert.Null(await TryTakeAsync(queue));
    }

    [Fact]
    public async Task A_name_added_while_it_is_processed_is_taken_again_only_after_it_is_done()
    {
        var queue = new WorkQueue();
        queue.Add("csr-a");
        var name = await queue.TakeAsync(Ct);

        queue.Add("csr-a");
        Assert.Null(await TryTakeAsync(queue)); // never by a second worker at the same time
        queue.Done(name);

        Assert.Equal("csr-a", await queue.TakeAsync(Ct));
    }

    [Fact]
    public async Task The_queue_is_idle_only_when_nothing_is_queued_or_processed()
    {
        var queue = new WorkQueue();
        Assert.True(queue.IsIdle);

        queue.Add("csr-a");
        Assert.False(queue.IsIdle);
        var name = await queue.TakeAsync(Ct);
        Assert.False(queue.IsIdle);
        queue.Done(name);

        Assert.True(queue.IsIdle);
    }

    [Fact]
    public async Task Waiting_for_idle_gives_up_after_the_limit_while_work_goes_on()
    {
        var queue = new WorkQueue();
        queue.Add("csr-a");
        var waited = Stopwatch.StartNew();

        await queue.WhenIdleAsync(TimeSpan.FromMilliseconds(200), TimeProvider.System, Ct);

        Assert.InRange(waited.Elapsed, TimeSpan.FromMilliseconds(150), TimeSpan.FromSeconds(5));
        Assert.False(queue.IsIdle);
    }

    [Fact]
    public async Task Waiting_for_idle_ends_when_the_last_name_is_done()
    {
        var queue = new WorkQueue();
        queue.Add("csr-a");
        var name = await queue.TakeAsync(Ct);
        var idle = queue.WhenIdleAsync(TimeSpan.FromMinutes(1), TimeProvider.System, Ct);
        Assert.False(idle.IsCompleted);

        queue.Done(name);

        await idle.WaitAsync(TimeSpan.FromSeconds(5), Ct);
    }
}
