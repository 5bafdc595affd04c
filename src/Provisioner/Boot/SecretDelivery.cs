using System.Net;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Provisioner.Catalog;
using Provisioner.Inventory;
using Provisioner.Profiles;
using Provisioner.Tokens;

namespace Provisioner.Boot;

/// <summary>How long tickets live and machines stay armed (see README, "Security model").</summary>
internal sealed record DeliveryOptions
{
    /// <summary>A machine new to the profiles, or reprovisioned, may fetch its real config for this long.</summary>
    public TimeSpan ArmedWindow { get; init; } = TimeSpan.FromHours(2);
    /// <summary>How long a ticket from <c>/ipxe</c> is good for.</summary>
    public TimeSpan TicketLifetime { get; init; } = TimeSpan.FromMinutes(15);
    /// <summary>The same for machines that install to disk: the installed system's first boot fetches the real config.</summary>
    public TimeSpan InstallTicketLifetime { get; init; } = TimeSpan.FromMinutes(60);
}

/// <summary>Why the real config was or was not released: <see cref="Status"/> is 200, 403 or 410.</summary>
internal sealed record DeliveryDecision(int Status, string? Reason, MachineState State);

/// <summary>
/// Boot tickets and the once-per-round release of a machine's real config (its secrets). <c>/ipxe</c> mints a ticket
/// (<see cref="IssueTicketAsync"/>); the TLS listener's <c>/ignition</c> redeems it (<see cref="RedeemAsync"/>), which
/// decides and records the delivery in one write of the machine state, so two requests with one ticket cannot both win.
/// </summary>
internal sealed class SecretDelivery(MachineStateStore machineState, BootstrapTokenStore tokens, TicketSeal seal, DeliveryOptions options, TimeProvider time,
    ILogger<SecretDelivery> logger)
{
    public DeliveryOptions Options => options;

    /// <summary>
    /// Mints a ticket for <paramref name="machine"/>, bound to <paramref name="clientAddress"/> unless its role says
    /// otherwise (see <see cref="TicketSeal"/>: nothing is written for it). For a role with <c>freshRoundPerBoot</c>,
    /// first starts a new provisioning round (as a reprovision does); a machine never seen before is recorded as first
    /// seen (armed), once.
    /// </summary>
    /// <param name="installs">The machine installs to disk: its installed system's first boot redeems the ticket, later.</param>
    public async ValueTask<string> IssueTicketAsync(RoleSpec role, MachineSpec machine, bool installs, IPAddress? clientAddress, CancellationToken ct)
    {
        if (role.FreshRoundPerBoot)
        {
            var revoked = await tokens.RevokeAsync([.. tokens.ForMachine(machine.Name).Select(t => t.Id)], ct);
            await machineState.ReprovisionAsync(machine.Name, ct);
            logger.LogInformation("Machine {Machine} boots live every time (freshRoundPerBoot): a new provisioning round started, {Count} bootstrap token(s) revoked",
                machine.Name, revoked.Length);
        }
        var now = time.GetUtcNow();
        // A machine never seen before is new to the profiles: armed now, as NewMachineArming would (it may not have run
        // yet for a machine added a moment ago).
        if (machineState.Get(machine.Name) is not { } known || IsNew(known))
            await machineState.ChangeAsync(machine.Name, state => IsNew(state) ? state with { FirstSeenAt = now } : state, ct);
        var bound = role.BindTicketToAddress ? clientAddress : null;
        return seal.Issue(machine.Name, now, installs ? options.InstallTicketLifetime : options.TicketLifetime, bound);
    }

    /// <summary>
    /// Whether the machine's real config could be released now (armed, nothing released yet in this round): only then
    /// does a pointer request prepare the real config, which may mint its bootstrap token. A joined or already served
    /// machine's pointer mints nothing, so a token revoked after a join is not minted again by someone asking.
    /// </summary>
    public bool MayDeliver(MachineState? state) =>
        state is null || (ArmedSince(state) is { } armed && time.GetUtcNow() < armed + options.ArmedWindow && state.LastDeliveryThisRound(DeliveryKinds.Ignition) is null);

    /// <summary>When the machine's armed window opened: its last reprovision, else when it was first seen (null: never armed).</summary>
    internal static DateTimeOffset? ArmedSince(MachineState state) => state.ArmedAt ?? state.FirstSeenAt;

    /// <summary>A machine nothing was ever recorded for: new to the profiles.</summary>
    internal static bool IsNew(MachineState state) =>
        state.ArmedAt is null && state.FirstSeenAt is null && state.JoinedAt is null && state.Deliveries.IsEmpty && state.UsedTickets.IsEmpty;

    /// <summary>
    /// Redeems <paramref name="ticket"/> for <paramref name="machine"/> asked from <paramref name="clientAddress"/>: on
    /// success the ticket is used up, the delivery is recorded (approver evidence) and <paramref name="reportKeyHash"/>
    /// becomes the machine's report key; otherwise nothing changes and the decision says why.
    /// </summary>
    public async Task<DeliveryDecision> RedeemAsync(MachineSpec machine, string ticket, string? clientAddress, string reportKeyHash, CancellationToken ct)
    {
        var opened = seal.Open(machine.Name, ticket);
        DeliveryDecision? decision = null;
        await machineState.ChangeAsync(machine.Name, state =>
        {
            var now = time.GetUtcNow();
            decision = Decide(machine.Name, state, opened, clientAddress, now);
            if (decision.Status != 200) return state;
            // The used ticket is what is remembered (the newest few): a second use of it is 410, naming when and where.
            var tickets = state.UsedTickets.Add(new BootTicket(opened!.Hash, opened.IssuedAt, opened.Expires, opened.BoundTo, now, clientAddress));
            if (tickets.Length > MachineSecrets.MaxTickets) tickets = tickets.RemoveRange(0, tickets.Length - MachineSecrets.MaxTickets);
            var deliveries = state.Deliveries.Add(new Delivery(DeliveryKinds.Ignition, now, clientAddress));
            if (deliveries.Length > MachineStateStore.MaxDeliveries) deliveries = deliveries.RemoveRange(0, deliveries.Length - MachineStateStore.MaxDeliveries);
            var delivered = state with { Tickets = tickets, Deliveries = deliveries, ReportKeyHash = reportKeyHash };
            decision = decision with { State = delivered };
            return delivered;
        }, ct);
        return decision!;
    }

    /// <summary>
    /// What <see cref="RedeemAsync"/> would decide now, without changing anything: a refusal is answered before the
    /// real config is prepared (which may mint a token); a yes is decided again, atomically, by the redeem.
    /// </summary>
    public DeliveryDecision Preview(MachineSpec machine, string ticket, string? clientAddress) =>
        Decide(machine.Name, machineState.Get(machine.Name) ?? MachineState.New(machine.Name), seal.Open(machine.Name, ticket), clientAddress, time.GetUtcNow());

    private DeliveryDecision Decide(string name, MachineState state, OpenedTicket? ticket, string? client, DateTimeOffset now)
    {
        DeliveryDecision Refuse(int status, string reason) => new(status, reason, state);
        var reprovision = $"`provisioner machines reprovision {name}` re-arms it (its next PXE boot fetches a new ticket)";
        if (ticket is null)
            return Refuse(403, $"the ticket is not one /ipxe issued to {name}: boot the machine through /ipxe for a fresh one");
        if (state.UsedTickets.FirstOrDefault(t => t.Hash == ticket.Hash && t.UsedAt is not null) is { UsedAt: { } used } usedTicket)
            return Refuse(410, $"this ticket already released {name}'s config at {used:O} to {usedTicket.UsedBy ?? "an unknown address"}; it is released once per provisioning round. If that was not the machine, treat its secrets as stolen; {reprovision}");
        if (state.ArmedAt is { } armed && ticket.IssuedAt < armed)
            return Refuse(403, $"the ticket was issued at {ticket.IssuedAt:O}, before {name}'s current provisioning round started at {armed:O}: boot the machine through /ipxe for a fresh one");
        if (now >= ticket.Expires)
            return Refuse(403, $"the ticket expired at {ticket.Expires:O}: boot the machine through /ipxe again for a fresh one");
        if (ticket.BoundTo is { } bound && bound != client)
            return Refuse(403, $"the ticket was issued to {bound} (the address that asked /ipxe), not to {client ?? "this client"}; " +
                "if the machine's firmware and its OS get different addresses, set ignition.bindTicketToAddress: false on its role");
        if (state.LastDeliveryThisRound(DeliveryKinds.Ignition) is { } delivery)
            return Refuse(410, $"{name}'s config was already released in this provisioning round, at {delivery.At:O} to {delivery.Address ?? "an unknown address"}. If that was not the machine, treat its secrets as stolen; {reprovision}");
        if (ArmedSince(state) is not { } armedAt || now >= armedAt + options.ArmedWindow)
            return Refuse(403, ArmedSince(state) is { } a
                ? $"{name} is not armed for provisioning: its window ({options.ArmedWindow.TotalMinutes:0} min from {a:O}) has passed; {reprovision}"
                : $"{name} is not armed for provisioning; {reprovision}");
        return new DeliveryDecision(200, null, state);
    }
}

/// <summary>
/// Arms machines new to the profiles: a machine with no persisted state has never been given anything, so a freshly
/// rendered cluster (or a machine just added) may fetch its config for <see cref="DeliveryOptions.ArmedWindow"/>
/// without an extra step. Machines with a state are armed only by a reprovision.
/// </summary>
internal sealed class NewMachineArming(CatalogStore catalog, MachineStateStore machineState, DeliveryOptions options, TimeProvider time, ILogger<NewMachineArming> logger) : IHostedService
{
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await ArmNewAsync(catalog.Current, cancellationToken);
        catalog.Changed += snapshot => _ = ArmNewInBackgroundAsync(snapshot);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    private async Task ArmNewInBackgroundAsync(CatalogSnapshot snapshot)
    {
        try { await ArmNewAsync(snapshot, CancellationToken.None); }
        catch (Exception e) { logger.LogError(e, "Arming the machines new to the profiles failed; `provisioner machines reprovision NAME` arms one by hand"); }
    }

    private async Task ArmNewAsync(CatalogSnapshot snapshot, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        // All at once: the store writes concurrent changes together (a first start with many machines is one write).
        var fresh = snapshot.Profiles.Machines.Where(m => machineState.Get(m.Name) is null).Select(m => m.Name).ToList();
        await Task.WhenAll(fresh.Select(name => machineState.ChangeAsync(name,
            state => SecretDelivery.IsNew(state) ? state with { FirstSeenAt = now } : state, ct)));
        if (fresh.Count > 0)
            logger.LogInformation("{Count} machine(s) new to the profiles armed for provisioning until {Until:O}: {Machines}",
                fresh.Count, now + options.ArmedWindow, string.Join(", ", fresh));
    }
}
