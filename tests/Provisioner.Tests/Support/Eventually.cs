namespace Provisioner.Tests.Support;

/// <summary>
/// The one way tests wait for something that happens in the background: poll a condition until it holds, fail with
/// what was awaited (and the last state seen) when it does not within the timeout (15 s unless told). Never a fixed sleep.
/// </summary>
internal static class Eventually
{
    private static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(20);

    public static Task That(Func<bool> condition, string what, TimeSpan? timeout = null) =>
        That(() => Task.FromResult(condition()), what, timeout);

    public static Task That(Func<Task<bool>> condition, string what, TimeSpan? timeout = null) =>
        That(condition, () => what, timeout);

    /// <param name="what">What was awaited, asked only on failure: it may describe the last state seen.</param>
    public static async Task That(Func<Task<bool>> condition, Func<string> what, TimeSpan? timeout = null, TimeSpan? interval = null)
    {
        var limit = timeout ?? DefaultTimeout;
        var deadline = DateTime.UtcNow + limit;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail($"timed out after {limit.TotalSeconds:0.#} s waiting for {what()}");
            await Task.Delay(interval ?? Interval, TestContext.Current.CancellationToken);
        }
    }

    /// <summary>Fetches a value until it satisfies <paramref name="condition"/>, and returns it; a failure shows the last value.</summary>
    public static async Task<T> Value<T>(Func<Task<T>> fetch, Func<T, bool> condition, string what, TimeSpan? timeout = null)
    {
        T value = default!;
        await That(async () => condition(value = await fetch()), () => $"{what}; last value:\n{value}", timeout);
        return value;
    }
}
