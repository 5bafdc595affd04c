using System.Collections.Concurrent;
using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Provisioner.Tests.Boot.Qemu;

/// <summary>
/// A throwaway Kestrel server that speaks the provisioning boot contract (boot.ipxe → ipxe →
/// kernel/initrd → ignition → progress) and records every request, so the QEMU harness can be
/// proven before the real server exists. Listens on 127.0.0.1; the guest reaches it as 10.0.2.2.
/// </summary>
public sealed class ContractBootServer : IAsyncDisposable
{
    public sealed record Hit(string Path, string? Mac, DateTimeOffset At);

    public sealed record ProgressReport(string Mac, string Stage, string Detail);

    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Hit> _hits = new();
    private readonly ConcurrentQueue<ProgressReport> _progress = new();
    private int _port;

    public int Port => _port;

    /// <summary>The server as the guest sees it (QEMU user networking maps 10.0.2.2 to the host's loopback).</summary>
    public string GuestBaseUrl => $"http://10.0.2.2:{_port}";

    public string BootUrl => GuestBaseUrl + "/boot.ipxe";

    public IReadOnlyList<Hit> Hits => [.. _hits];

    public IReadOnlyList<ProgressReport> Progress => [.. _progress];

    private ContractBootServer(TestBootArtifacts artifacts, byte[] ignitionJson)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _app = builder.Build();

        _app.MapGet("/boot.ipxe", (HttpContext ctx) =>
        {
            Record(ctx, null);
            return Results.Text($"#!ipxe\nchain --autofree {GuestBaseUrl}/ipxe?mac=${{mac:hexhyp}}&uuid=${{uuid}}\n", "text/plain");
        });
        _app.MapGet("/ipxe", (HttpContext ctx, string mac) =>
        {
            Record(ctx, mac);
            var b = GuestBaseUrl;
            return Results.Text(
                "#!ipxe\n" +
                $"kernel {b}/assets/vmlinuz?mac={mac} initrd=initrd0 ignition.config.url={b}/ignition?mac={mac} " +
                "ignition.firstboot ignition.platform.id=metal console=ttyS0,115200n8\n" +
                $"initrd --name initrd0 {b}/assets/initramfs.img?mac={mac}\n" +
                "boot\n", "text/plain");
        });
        _app.MapGet("/assets/vmlinuz", (HttpContext ctx, string? mac) =>
        {
            Record(ctx, mac);
            return Results.File(artifacts.Kernel, "application/octet-stream");
        });
        _app.MapGet("/assets/initramfs.img", (HttpContext ctx, string? mac) =>
        {
            Record(ctx, mac);
            return Results.File(artifacts.Initramfs, "application/octet-stream");
        });
        _app.MapGet("/ignition", (HttpContext ctx, string? mac) =>
        {
            Record(ctx, mac);
            return Results.Bytes(ignitionJson, "application/json");
        });
        _app.MapPost("/api/v1/progress", async (HttpContext ctx) =>
        {
            var report = await JsonSerializer.DeserializeAsync<ProgressReport>(ctx.Request.Body, JsonOptions, ctx.RequestAborted);
            if (report is null) return Results.BadRequest();
            _progress.Enqueue(report);
            Record(ctx, report.Mac);
            return Results.NoContent();
        });
    }

    private static readonly JsonSerializerOptions JsonOptions = new(JsonSerializerDefaults.Web);

    public static async Task<ContractBootServer> StartAsync(TestBootArtifacts artifacts, byte[] ignitionJson, CancellationToken cancellationToken)
    {
        var server = new ContractBootServer(artifacts, ignitionJson);
        await server._app.StartAsync(cancellationToken);
        var address = server._app.Services.GetRequiredService<IServer>().Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        server._port = new Uri(address).Port;
        return server;
    }

    /// <summary>Canonical lower-case colon form, accepting hyphen or colon input.</summary>
    public static string NormalizeMac(string mac) => mac.Replace('-', ':').ToLowerInvariant();

    private void Record(HttpContext ctx, string? mac) =>
        _hits.Enqueue(new Hit(ctx.Request.Path.Value ?? "", mac is null ? null : NormalizeMac(mac), DateTimeOffset.UtcNow));

    public async ValueTask DisposeAsync()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        await _app.StopAsync(cts.Token);
        await _app.DisposeAsync();
    }
}
