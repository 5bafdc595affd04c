namespace Provisioner.Tests.Support;

/// <summary>
/// The one way tests wait for something that happens in the background: poll a condition until it holds, fail with
/// what was awaited when it does not within the timeout (15 s unless told). Never a fixed sleep.
/// </summary>
public static class Eventually
{
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    public static Task That(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        That(() => Task.FromResult(condition()), what, timeout);

    public static async Task That(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(15));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(Interval, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Fetches a value until it satisfies <paramref name="condition"/>, and returns it.</summary>
    public static async Task<T> Value<T>(Func<Task<T>> fetch, Func<T, bool> condition, string what, TimeSpan? timeout = null)
    {
        T value = default!;
        await That(async () => condition(value = await fetch()), what, timeout);
        return value;
    }
}
