using Provisioner.Tests.Pxe.Netns;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Security;

/// <summary>curl run inside a test network namespace, as a client on another address than the server's loopback.</summary>
internal static class NamespacedCurl
{
    /// <summary>The status and body of <paramref name="url"/> as seen from <paramref name="from"/>; a transport failure fails the test.</summary>
    public static async Task<(int Status, string Body)> GetAsync(NetworkNamespace from, string url, params string[] extra)
    {
        var curl = Requires.Program("curl", "curl");
        var result = await from.RunAsync(curl, ["-sS", "--max-time", "20", "-w", "\n%{http_code}", .. extra, url]);
        Assert.True(result.ExitCode == 0, $"curl {url}: {result}");
        var output = result.Output.TrimEnd();
        var split = output.LastIndexOf('\n');
        return (int.Parse(output[(split + 1)..]), output[..Math.Max(0, split)]);
    }
}
