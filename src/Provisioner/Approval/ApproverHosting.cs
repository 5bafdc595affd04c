using Microsoft.Extensions.DependencyInjection;
using Provisioner.Primitives;

namespace Provisioner.Approval;

/// <summary>Wires the CSR approver into the server: its services (its endpoint, <c>/api/v1/approver</c>, is in the operator API).</summary>
internal static class ApproverHosting
{
    public static IServiceCollection AddApprover(this IServiceCollection services, ApproverOptions options, ClusterDirectoryPath clusterDirectory)
    {
        // One resolved copy (the Lease identity decided once) for the worker and for what it reports.
        services.AddSingleton(options.ForCluster(clusterDirectory.FullPath));
        services.AddSingleton<ApproverStatus>();
        services.AddSingleton<ApprovalMetrics>();
        services.AddHostedService<ApprovalWorker>();
        return services;
    }
}
