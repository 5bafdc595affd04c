namespace Provisioner.Tests.Cluster;

/// <summary>
/// A rendered kubelet.service's <c>ExecStart=/usr/bin/podman run …</c>, split the way systemd would (continuation
/// lines joined, no quoting in these units): podman's options, the image, and the kubelet's own arguments.
/// </summary>
internal sealed record KubeletUnit(string[] ExecStart, string[] PodmanOptions, string Image, string[] KubeletArgs)
{
    /// <summary>podman options that take a separate value.</summary>
    private static readonly HashSet<string> WithValue = ["--name", "--volume", "-v", "--pid", "--network", "--net", "--entrypoint"];

    public static KubeletUnit Parse(string unit)
    {
        var lines = unit.Split('\n').SkipWhile(l => !l.StartsWith("ExecStart=", StringComparison.Ordinal)).ToList();
        var joined = new List<string>();
        foreach (var line in lines)
        {
            joined.Add(line.TrimEnd('\\'));
            if (!line.EndsWith('\\')) break;
        }
        var words = string.Join(' ', joined)["ExecStart=".Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["/usr/bin/podman", "run"], words[..2]);
        var options = new List<string>();
        var i = 2;
        for (; i < words.Length && words[i].StartsWith('-'); i++)
        {
            options.Add(words[i]);
            if (WithValue.Contains(words[i])) options.Add(words[++i]);
        }
        return new KubeletUnit(words, [.. options], words[i], words[(i + 1)..]);
    }

    /// <summary>The <c>--volume</c> values (<c>host:container[:options]</c>).</summary>
    public IEnumerable<string> Volumes => PodmanOptions.Zip(PodmanOptions.Skip(1)).Where(p => p.First == "--volume").Select(p => p.Second);
}
