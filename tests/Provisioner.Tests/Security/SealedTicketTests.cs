using System.Net;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Security;

/// <summary>
/// Tickets as an attacker and an operator meet them, through the real server: /ipxe mints them without writing state,
/// they keep working across a restart, and one machine's ticket, a tampered one or one from before the key was
/// replaced releases nothing.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class SealedTicketTests
{
    private const string Worker = "52-54-00-00-30-01", Bootstrap = "52-54-00-00-10-01";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string StateFile(ProfileTree tree) => Path.Combine(tree.Root, "cluster", "state", "machines.json");

    /// <summary>Worker-0's pointer (its ticket in the merge URL) as a server on <paramref name="tree"/> gave it before stopping.</summary>
    private static async Task<Pointer> PointerFromAServerSinceStoppedAsync(ProfileTree tree)
    {
        await using var first = await RunningServer.StartAsync(tree);
        return await first.PointerAsync(await first.IgnitionUrlAsync($"mac={Worker}", Ct), Ct);
    }

    /// <summary>The same pointer followed to <paramref name="server"/>'s TLS listener (a restarted server listens on new ports).</summary>
    private static Pointer On(RunningServer server, Pointer pointer) =>
        pointer with { MergeSource = new Uri(server.Server.TlsBaseAddress, pointer.DeclaredSource.PathAndQuery) };

    private static string TicketOf(Uri url) => System.Web.HttpUtility.ParseQueryString(url.Query)["ticket"]!;

    [Fact]
    public async Task Minting_tickets_for_a_known_machine_writes_nothing()
    {
        using var tree = new ProfileTree().LiveBoot();
        await using var server = await RunningServer.StartAsync(tree);
        await server.IgnitionUrlAsync($"mac={Worker}", Ct);
        var before = await File.ReadAllBytesAsync(StateFile(tree), Ct);
        FileTimes.Age(StateFile(tree));
        var stamp = File.GetLastWriteTimeUtc(StateFile(tree));

        var tickets = new HashSet<string>();
        for (var i = 0; i < 20; i++) tickets.Add(TicketOf(await server.IgnitionUrlAsync($"mac={Worker}", Ct)));

        Assert.Equal(20, tickets.Count);
        Assert.Equal(before, await File.ReadAllBytesAsync(StateFile(tree), Ct));
        Assert.Equal(stamp, File.GetLastWriteTimeUtc(StateFile(tree)));
    }

    [Fact]
    public async Task Another_machines_ticket_releases_nothing()
    {
        using var tree = new ProfileTree().LiveBoot();
        await using var server = await RunningServer.StartAsync(tree);
        var bootstrapTicket = TicketOf(await server.IgnitionUrlAsync($"mac={Bootstrap}", Ct));
        var pointer = await server.PointerAsync(new Uri(server.BaseAddress, $"/ignition?mac={Worker}&ticket={bootstrapTicket}"), Ct);

        using var response = await SecureIgnition.FetchMergedAsync(pointer, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("not one /ipxe issued to worker-0", await response.Content.ReadAsStringAsync(Ct));
    }

    [Theory]
    [InlineData("%25%25%25")]
    [InlineData("AAAA")]
    [InlineData("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]
    public async Task A_malformed_ticket_is_403_with_the_reason_never_a_server_error(string ticket)
    {
        using var tree = new ProfileTree().LiveBoot();
        await using var server = await RunningServer.StartAsync(tree);
        var pointer = await server.PointerAsync(new Uri(server.BaseAddress, $"/ignition?mac={Worker}&ticket={ticket}"), Ct);

        using var response = await SecureIgnition.FetchMergedAsync(pointer, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("not one /ipxe issued", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task A_ticket_minted_before_a_restart_still_releases_the_config_once()
    {
        using var tree = new ProfileTree().LiveBoot();
        var pointer = await PointerFromAServerSinceStoppedAsync(tree);

        await using var restarted = await RunningServer.StartAsync(tree);
        var again = On(restarted, pointer);
        using var released = await SecureIgnition.FetchMergedAsync(again, Ct);
        using var replayed = await SecureIgnition.FetchMergedAsync(again, Ct);

        Assert.Equal(HttpStatusCode.OK, released.StatusCode);
        Assert.Equal(HttpStatusCode.Gone, replayed.StatusCode);
        Assert.Contains("this ticket already released worker-0's config", await replayed.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Removing_the_ticket_key_voids_every_outstanding_ticket()
    {
        using var tree = new ProfileTree().LiveBoot();
        var pointer = await PointerFromAServerSinceStoppedAsync(tree);
        File.Delete(Path.Combine(tree.Root, "cluster", "state", "ticket.key"));

        await using var restarted = await RunningServer.StartAsync(tree);
        using var response = await SecureIgnition.FetchMergedAsync(On(restarted, pointer), Ct);
        var fresh = await restarted.PointerAsync(await restarted.IgnitionUrlAsync($"mac={Worker}", Ct), Ct);
        using var withFresh = await SecureIgnition.FetchMergedAsync(fresh, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal(HttpStatusCode.OK, withFresh.StatusCode);
    }
}
