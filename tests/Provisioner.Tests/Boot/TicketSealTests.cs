using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Provisioner.Boot;
using Provisioner.Primitives;

namespace Provisioner.Tests.Boot;

/// <summary>
/// Boot tickets are sealed, not stored: what /ipxe mints opens only for the machine it was minted for, under the key
/// on disk, and any change to it (or a key made elsewhere) makes it worthless.
/// </summary>
public sealed class TicketSealTests : IDisposable
{
    private static readonly DateTimeOffset Issued = new(2026, 11, 30, 6, 0, 0, 123, TimeSpan.Zero);
    private readonly string _cluster = Directory.CreateTempSubdirectory("ticket-seal-").FullName;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => Directory.Delete(_cluster, recursive: true);

    private async Task<TicketSeal> StartedSealAsync(string? cluster = null)
    {
        var seal = new TicketSeal(new ClusterDirectoryPath(cluster ?? _cluster), NullLogger<TicketSeal>.Instance);
        await seal.StartAsync(Ct);
        return seal;
    }

    [Fact]
    public async Task A_ticket_opens_for_its_machine_with_its_issue_time_lifetime_and_address()
    {
        var seal = await StartedSealAsync();

        var ticket = seal.Issue("worker-0", Issued, TimeSpan.FromMinutes(15), IPAddress.Parse("10.0.0.7"));
        var opened = seal.Open("worker-0", ticket);

        Assert.NotNull(opened);
        Assert.Equal(Issued, opened.IssuedAt);
        Assert.Equal(Issued.AddMinutes(15), opened.Expires);
        Assert.Equal("10.0.0.7", opened.BoundTo);
        Assert.Matches("^[A-Za-z0-9_-]+$", ticket);
    }

    [Fact]
    public async Task An_unbound_ticket_names_no_address_and_an_ipv6_bound_one_keeps_its_address()
    {
        var seal = await StartedSealAsync();

        Assert.Null(seal.Open("worker-0", seal.Issue("worker-0", Issued, TimeSpan.FromMinutes(1), null))!.BoundTo);
        Assert.Equal("fd00::7", seal.Open("worker-0", seal.Issue("worker-0", Issued, TimeSpan.FromMinutes(1), IPAddress.Parse("fd00::7")))!.BoundTo);
    }

    [Fact]
    public async Task A_ticket_does_not_open_for_another_machine()
    {
        var seal = await StartedSealAsync();

        var ticket = seal.Issue("worker-0", Issued, TimeSpan.FromMinutes(15), null);

        Assert.Null(seal.Open("worker-1", ticket));
    }

    [Fact]
    public async Task Changing_any_character_of_a_ticket_makes_it_worthless()
    {
        var seal = await StartedSealAsync();
        var ticket = seal.Issue("worker-0", Issued, TimeSpan.FromMinutes(15), IPAddress.Parse("10.0.0.7"));

        for (var i = 0; i < ticket.Length; i++)
        {
            var chars = ticket.ToCharArray();
            chars[i] = chars[i] == 'A' ? 'B' : 'A';
            Assert.Null(seal.Open("worker-0", new string(chars)));
        }
        Assert.Null(seal.Open("worker-0", ticket[..^1]));
        Assert.Null(seal.Open("worker-0", ticket + "A"));
        Assert.Null(seal.Open("worker-0", ""));
        Assert.Null(seal.Open("worker-0", "not base64 at all!"));
        Assert.Null(seal.Open("worker-0", new string('A', 4096)));
    }

    [Fact]
    public async Task Two_tickets_minted_at_the_same_instant_differ()
    {
        var seal = await StartedSealAsync();

        Assert.NotEqual(seal.Issue("worker-0", Issued, TimeSpan.FromMinutes(15), null), seal.Issue("worker-0", Issued, TimeSpan.FromMinutes(15), null));
    }

    [Fact]
    public async Task The_key_is_kept_private_on_disk_so_a_restarted_server_opens_earlier_tickets()
    {
        var ticket = (await StartedSealAsync()).Issue("worker-0", Issued, TimeSpan.FromMinutes(15), null);

        var restarted = await StartedSealAsync();

        Assert.NotNull(restarted.Open("worker-0", ticket));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(restarted.KeyPath));
    }

    [Fact]
    public async Task A_ticket_sealed_under_another_clusters_key_does_not_open()
    {
        var other = Directory.CreateTempSubdirectory("ticket-seal-other-").FullName;
        try
        {
            var ticket = (await StartedSealAsync(other)).Issue("worker-0", Issued, TimeSpan.FromMinutes(15), null);

            Assert.Null((await StartedSealAsync()).Open("worker-0", ticket));
        }
        finally { Directory.Delete(other, recursive: true); }
    }

    [Fact]
    public async Task Servers_starting_together_on_one_cluster_directory_end_with_one_key()
    {
        var seals = Enumerable.Range(0, 8).Select(_ => new TicketSeal(new ClusterDirectoryPath(_cluster), NullLogger<TicketSeal>.Instance)).ToList();

        await Task.WhenAll(seals.Select(s => Task.Run(() => s.StartAsync(Ct), Ct)));

        var ticket = seals[0].Issue("worker-0", Issued, TimeSpan.FromMinutes(15), null);
        Assert.All(seals, s => Assert.NotNull(s.Open("worker-0", ticket)));
        Assert.Equal(["ticket.key"], Directory.GetFiles(Path.Combine(_cluster, "state")).Select(Path.GetFileName));
    }

    [Fact]
    public async Task A_damaged_key_file_stops_the_start_naming_the_file_and_the_way_out()
    {
        Directory.CreateDirectory(Path.Combine(_cluster, "state"));
        await File.WriteAllTextAsync(Path.Combine(_cluster, "state", "ticket.key"), "short\n", Ct);

        var e = await Assert.ThrowsAsync<InvalidDataException>(() => StartedSealAsync());

        Assert.Contains(Path.Combine(_cluster, "state", "ticket.key"), e.Message);
        Assert.Contains("remove it", e.Message);
    }
}
