using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Logging;
using Provisioner.Boot;
using Provisioner.Catalog;
using Provisioner.Inventory;
using Provisioner.Observability;
using Provisioner.Primitives;
using Provisioner.Profiles;

using Provisioner.Ignition;

namespace Provisioner.Boot;

/// <summary>
/// <c>GET /ignition</c>. Over plain HTTP: the machine's public <em>pointer</em> config (<see cref="PointerConfig"/>),
/// never a secret. Over the TLS listener, with the one-time ticket <c>/ipxe</c> minted: the machine's real config
/// (prepared ahead by <see cref="PreparedIgnition"/>, plus its per-delivery report key), released once per
/// provisioning round and recorded before it leaves (see <see cref="SecretDelivery"/>).
/// </summary>
internal static class IgnitionEndpoints
{
    /// <summary>Where the real config puts the machine's report key (mode 0600) and Provisioner's coordinates.</summary>
    public const string ReportKeyPath = "/etc/provisioner/report-key", EnvironmentPath = "/etc/provisioner/provisioner.env";

    public static IEndpointRouteBuilder MapIgnitionEndpoints(this IEndpointRouteBuilder app)
    {
        var queries = new MatchedQueries();
        app.MapGet("/ignition", async (HttpContext context, CatalogStore catalog, PreparedIgnition prepared, MachineRegistry registry,
            ServingTls tls, SecretDelivery delivery, MachineStateStore machineState, ProvisionerMetrics metrics, ILoggerFactory loggers) =>
        {
            var snapshot = catalog.Current;
            var (query, match, error) = queries.Match(snapshot, context.Request);
            if (error is not null) return PlainText.Problem(StatusCodes.Status400BadRequest, error);
            if (match is null) return PlainText.Problem(StatusCodes.Status404NotFound, $"no machine profile matches {query}");

            var machine = match.Machine;
            context.SetMachine(machine.Name);
            var httpBase = context.Request.IsHttps ? tls.HttpBaseFor(context) : ProvisionerUrls.BaseFor(context, snapshot.Profiles.Cluster);
            var remote = context.Connection.RemoteIpAddress?.ToString();
            context.Response.Headers.CacheControl = "no-store";
            if (!context.Request.IsHttps && !delivery.MayDeliver(machineState.Get(machine.Name)))
            {
                // Nothing will be released to this machine now (the TLS fetch answers why): a pointer in the version the
                // client asks for, without preparing (or minting for) its real config.
                var asked = IgnitionNegotiation.Choose(context.Request.Headers.Accept.ToString(), PointerConfig.Shape);
                if (!asked.IsAcceptable) return PlainText.Problem(StatusCodes.Status406NotAcceptable, asked.NotAcceptableReason);
                if (await InstallMode.RecordInstallerFetchAsync(snapshot.Profiles, machine, machineState, loggers.CreateLogger(typeof(IgnitionEndpoints)),
                    context.RequestAborted) is { } notRecorded)
                    return notRecorded;
                registry.RecordKnown(machine, query!, BootStage.Ignition, remote, $"spec {IgnitionSpec.Format(asked.Version)}, pointer");
                return Results.Bytes(PointerConfig.Build(asked.Version, $"{tls.TlsBaseFor(context, httpBase)}/ignition{context.Request.QueryString.Value}",
                    tls.CaCertificatePem), asked.ContentType);
            }
            var logger = loggers.CreateLogger(typeof(IgnitionEndpoints));
            var ticket = context.Request.Query["ticket"].ToString();
            // A refusal: 403 with the reason, or 410 for a second release, which is also counted and logged as a warning.
            IResult Refuse(DeliveryDecision refused)
            {
                if (refused.Status == StatusCodes.Status410Gone)
                {
                    metrics.SecretRedeliveryRefused.WithLabels(machine.Name).Inc();
                    logger.LogWarning("Refused to release {Machine}'s config a second time to {Client}: {Reason}", machine.Name, remote, refused.Reason);
                }
                registry.RecordKnown(machine, query!, BootStage.Ignition, remote, $"config refused ({refused.Status})");
                return PlainText.Problem(refused.Status, refused.Reason!);
            }
            if (context.Request.IsHttps)
            {
                if (ticket.Length == 0)
                    return PlainText.Problem(StatusCodes.Status403Forbidden,
                        $"no ticket: {machine.Name}'s config is released only with the one-time ticket its /ipxe script carries (boot it through /ipxe, or GET /ipxe?{BootQuery.ToQueryString(query!)} first)");
                if (delivery.Preview(machine, ticket, remote) is { Status: not StatusCodes.Status200OK } refused)
                    return Refuse(refused);
            }
            var (config, unavailable) = await prepared.GetAsync(snapshot, machine, httpBase, context.RequestAborted);
            if (config is null) return PlainText.Problem(StatusCodes.Status503ServiceUnavailable, unavailable!);
            var negotiated = config.Negotiate(context.Request.Headers.Accept.ToString());
            if (!negotiated.IsAcceptable)
                return PlainText.Problem(StatusCodes.Status406NotAcceptable, negotiated.NotAcceptableReason);
            var spec = $"spec {IgnitionSpec.Format(negotiated.Version)}";

            if (!context.Request.IsHttps)
            {
                // The query goes on unchanged: the same selectors match the same machine, the ticket travels along.
                // Install mode: the installer fetches the pointer over plain HTTP and writes it to the disk; the installed
                // system follows it over TLS. From this fetch on, the machine's PXE boots go to its disk.
                if (await InstallMode.RecordInstallerFetchAsync(snapshot.Profiles, machine, machineState, logger, context.RequestAborted) is { } notRecorded)
                    return notRecorded;
                var source = $"{tls.TlsBaseFor(context, httpBase)}/ignition{context.Request.QueryString.Value}";
                registry.RecordKnown(machine, query!, BootStage.Ignition, remote, spec + ", pointer");
                return Results.Bytes(PointerConfig.Build(negotiated.Version, source, tls.CaCertificatePem), negotiated.ContentType);
            }

            var reportKey = MachineSecrets.NewSecret();
            DeliveryDecision decision;
            try { decision = await delivery.RedeemAsync(machine, ticket, remote, MachineSecrets.Hash(reportKey), context.RequestAborted); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or InvalidDataException)
            {
                logger.LogError(e, "Cannot record the Ignition delivery to {Machine}", machine.Name);
                return PlainText.Problem(StatusCodes.Status503ServiceUnavailable, "the delivery cannot be recorded (details in the server log); try again");
            }
            if (decision.Status != StatusCodes.Status200OK) return Refuse(decision);

            registry.RecordKnown(machine, query!, BootStage.Ignition, remote, spec + ", config over TLS");
            var delivered = WithDeliveryFiles(config.Config, reportKey, httpBase, machine.Name).WithVersion(negotiated.Version);
            return Results.Bytes(IgnitionJson.SerializeToUtf8(delivered), negotiated.ContentType);
        });
        return app;
    }

    /// <summary>The rendered config plus what belongs to this delivery only: the report key and where to report.</summary>
    internal static IgnitionConfig WithDeliveryFiles(IgnitionConfig config, string reportKey, string httpBase, string machineName)
    {
        FileEntry File(string path, string content, int mode) => new()
        {
            Path = path,
            Overwrite = true,
            Mode = mode,
            Contents = DataUrl.ForContents(Encoding.UTF8.GetBytes(content)),
        };
        var storage = config.Storage ?? new Storage();
        return config with
        {
            Storage = storage with
            {
                Files = [.. storage.Files ?? [],
                    File(ReportKeyPath, reportKey + "\n", Convert.ToInt32("600", 8)),
                    File(EnvironmentPath, $"PROVISIONER_URL={httpBase}\nPROVISIONER_MACHINE={machineName}\n", Convert.ToInt32("644", 8))],
            },
        };
    }
}
