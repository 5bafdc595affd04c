using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Provisioner.Api;
using Provisioner.Hosting;

namespace Provisioner.Approval;

/// <summary>Wires the CSR approver into the server: one call for services, one for endpoints.</summary>
public static class ApproverHosting
{
    public static IServiceCollection AddApprover(this IServiceCollection services, ServerOptions options)
    {
        // One resolved copy (the Lease identity decided once) for the worker and for what it reports.
        services.AddSingleton(options.Approver.ForCluster(options.ResolvedClusterDirectory));
        services.AddSingleton<ApproverStatus>();
        services.AddSingleton<ApprovalMetrics>();
        services.AddHostedService<ApprovalWorker>();
        return services;
    }

    /// <summary><c>GET /api/v1/approver</c>: state (disabled, waiting-for-api, standby, leader), leader, last decisions with reasons.</summary>
    public static IEndpointRouteBuilder MapApproverEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/approver", (ApproverStatus status) => Results.Json(status.View(), ApiEndpoints.Json)).RequireOperator();
        return app;
    }
}
