using Provisioner.Tests.Pxe.Tftp;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Pxe.Netns;

/// <summary>
/// A Linux network namespace the test creates and deletes (with every process it started inside). Nothing in it
/// routes anywhere: only links the test adds between its own namespaces, so test traffic cannot leave them.
/// </summary>
internal sealed class NetworkNamespace : IAsyncDisposable
{
    private static int _counter;
    private readonly List<BackgroundProcess> _processes = [];
    private readonly string _ip;

    public string Name { get; }

    private NetworkNamespace(string ip, string name)
    {
        _ip = ip;
        Name = name;
    }

    /// <summary>Skips (or fails under CI) with the reason when this machine cannot create namespaces.</summary>
    public static async Task<NetworkNamespace> CreateAsync(string role)
    {
        Requires.Root();
        var ip = Requires.Program("ip", "iproute2");
        var name = $"prov-{role}-{Environment.ProcessId}-{Interlocked.Increment(ref _counter)}";
        var added = await ExternalClient.RunAsync(ip, "netns", "add", name);
        if (added.ExitCode != 0) Requires.Unavailable($"'ip netns add' is not permitted here ({added.Output.Trim()})");
        var ns = new NetworkNamespace(ip, name);
        await ns.IpAsync("link", "set", "lo", "up");
        return ns;
    }

    /// <summary>Runs <c>ip -n NAME ARGS</c> and fails the test if it fails.</summary>
    public async Task IpAsync(params string[] args)
    {
        var result = await ExternalClient.RunAsync(_ip, ["-n", Name, .. args]);
        Assert.True(result.ExitCode == 0, $"ip -n {Name} {string.Join(' ', args)}: {result}");
    }

    /// <summary>Runs a program inside the namespace to completion.</summary>
    public Task<ProcessResult> RunAsync(string program, params string[] args) =>
        ExternalClient.RunAsync(_ip, ["netns", "exec", Name, program, .. args]);

    /// <summary>Starts a long-running program inside the namespace; it is killed when the namespace is disposed.</summary>
    public BackgroundProcess Start(string program, params string[] args)
    {
        var process = BackgroundProcess.Start(_ip, ["netns", "exec", Name, program, .. args]);
        _processes.Add(process);
        return process;
    }

    /// <summary>A veth pair with one end here and the other in <paramref name="peer"/>, both up.</summary>
    public async Task AddVethAsync(string name, NetworkNamespace peer, string peerName)
    {
        var result = await ExternalClient.RunAsync(_ip, "link", "add", name, "netns", Name, "type", "veth", "peer", "name", peerName, "netns", peer.Name);
        Assert.True(result.ExitCode == 0, "ip link add veth: " + result);
        await IpAsync("link", "set", name, "up");
        await peer.IpAsync("link", "set", peerName, "up");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var p in _processes) await p.DisposeAsync();
        await ExternalClient.RunAsync(_ip, "netns", "del", Name);
    }
}
