namespace Provisioner.Tests.Support;

/// <summary>
/// Test categories. The fast inner loop is <c>dotnet test --filter "Category!=Integration&amp;Category!=Slow"</c>.
/// </summary>
internal static class Category
{
    public const string Name = "Category";
    /// <summary>Talks to a real server, program or network namespace.</summary>
    public const string Integration = "Integration";
    /// <summary>Takes more than a few seconds (QEMU boots).</summary>
    public const string Slow = "Slow";
}
