using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Prometheus;
using Provisioner.Observability;
using Serilog;
using Serilog.Core;
using Serilog.Events;

namespace Provisioner.Tests.Observability;

/// <summary>The one request log: a line and a metric sample per request, naming the machine it was for.</summary>
public sealed class RequestLogTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private sealed class Collected : ILogEventSink
    {
        public List<LogEvent> Events { get; } = [];
        public void Emit(LogEvent logEvent) { lock (Events) Events.Add(logEvent); }
    }

    private static async Task<(WebApplication App, Collected Log)> StartAsync()
    {
        var log = new Collected();
        var builder = WebApplication.CreateSlimBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddSingleton<Serilog.ILogger>(new LoggerConfiguration().MinimumLevel.Information().WriteTo.Sink(log).CreateLogger());
        builder.Services.AddSingleton<ProvisionerMetrics>();
        var app = builder.Build();
        app.UseMiddleware<RequestTelemetry>();
        app.MapGet("/ipxe", (HttpContext context) => { context.SetMachine("worker-0"); return Results.Text("#!ipxe\n"); });
        app.MapGet("/broken", () => Results.StatusCode(StatusCodes.Status500InternalServerError));
        await app.StartAsync(Ct);
        return (app, log);
    }

    private static object? Value(LogEvent e, string name) => ((ScalarValue)e.Properties[name]).Value;

    [Fact]
    public async Task A_request_is_one_line_with_its_endpoint_status_bytes_machine_and_client()
    {
        var (app, log) = await StartAsync();
        await using var _ = app;

        using var response = await app.GetTestClient().GetAsync("/ipxe?mac=52-54-00-00-30-01", Ct);

        var line = Assert.Single(log.Events);
        Assert.Equal(LogEventLevel.Information, line.Level);
        Assert.Equal("GET", Value(line, "Method"));
        Assert.Equal("/ipxe", Value(line, "Endpoint"));
        Assert.Equal("/ipxe", Value(line, "Path"));
        Assert.Equal(200, Value(line, "Status"));
        Assert.Equal(7L, Value(line, "Bytes"));
        Assert.Equal("worker-0", Value(line, "Machine"));
        Assert.Equal(typeof(RequestTelemetry).FullName, Value(line, "SourceContext"));
        Assert.IsType<double>(Value(line, "ElapsedMs"));
        Assert.StartsWith("GET /ipxe /ipxe → 200 7 bytes in ", line.RenderMessage().Replace("\"", ""));
    }

    [Fact]
    public async Task Requests_and_bytes_are_counted_per_endpoint_and_status()
    {
        var (app, _) = await StartAsync();
        await using var __ = app;
        var client = app.GetTestClient();

        for (var i = 0; i < 3; i++) (await client.GetAsync("/ipxe", Ct)).Dispose();
        (await client.GetAsync("/nowhere", Ct)).Dispose();

        using var text = new MemoryStream();
        await app.Services.GetRequiredService<ProvisionerMetrics>().Registry.CollectAndExportAsTextAsync(text, Ct);
        var metrics = System.Text.Encoding.UTF8.GetString(text.ToArray());
        Assert.Contains("provisioner_http_requests_total{endpoint=\"/ipxe\",status=\"200\"} 3", metrics);
        Assert.Contains("provisioner_http_requests_total{endpoint=\"unmatched\",status=\"404\"} 1", metrics);
        Assert.Contains("provisioner_http_response_bytes_total{endpoint=\"/ipxe\"} 21", metrics);
    }

    [Fact]
    public async Task A_server_error_is_logged_as_an_error_and_an_unknown_machine_as_a_dash()
    {
        var (app, log) = await StartAsync();
        await using var _ = app;

        (await app.GetTestClient().GetAsync("/broken", Ct)).Dispose();

        var line = Assert.Single(log.Events);
        Assert.Equal(LogEventLevel.Error, line.Level);
        Assert.Equal(500, Value(line, "Status"));
        Assert.Equal("-", Value(line, "Machine"));
    }
}
