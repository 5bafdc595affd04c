using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Provisioner.Primitives;

namespace Provisioner.Approval;

/// <summary>Wires the CSR approver into the server: its services (its endpoint, <c>/api/v1/approver</c>, is in the operator API).</summary>
internal static class ApproverHosting
{
    /// <summary>
    /// The approver from configuration (<c>kubeconfig</c>, <c>noApprover</c>, <c>denyForged</c>), checked at start;
    /// its timings and policy come from <see cref="ApproverTuning"/> (defaults unless the composition registered one),
    /// and so does the kubeconfig when the configuration names none (servers composed from typed options).
    /// Needs the <see cref="ClusterDirectoryPath"/> registered.
    /// </summary>
    public static IServiceCollection AddApprover(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ApproverConfiguration>().Bind(configuration).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<ApproverConfiguration>, ApproverStartupCheck>());
        services.TryAddSingleton(new ApproverTuning(new ApproverOptions()));
        // One resolved copy (the Lease identity decided once) for the worker and for what it reports.
        services.AddSingleton(sp =>
        {
            var given = sp.GetRequiredService<IOptions<ApproverConfiguration>>().Value;
            var tuning = sp.GetRequiredService<ApproverTuning>().Options;
            var options = tuning with
            {
                Enabled = !SwitchText.Parse("--no-approver", given.NoApprover),
                Kubeconfig = given.Kubeconfig ?? tuning.Kubeconfig,
                Policy = tuning.Policy with { DenyForged = SwitchText.Parse("--deny-forged", given.DenyForged) },
            };
            return options.ForCluster(sp.GetRequiredService<ClusterDirectoryPath>().FullPath);
        });
        services.AddSingleton<ApproverStatus>();
        services.AddSingleton<ApprovalMetrics>();
        services.AddHostedService<ApprovalWorker>();
        return services;
    }
}

/// <summary>The approver's settings as configuration holds them (text; property names are the settings' keys).</summary>
internal sealed class ApproverConfiguration
{
    public string? Kubeconfig { get; set; }
    public string? NoApprover { get; set; }
    public string? DenyForged { get; set; }
}

/// <summary>The approver's timings and policy, which have no setting: tests and benches tune them, <c>serve</c> uses the defaults.</summary>
internal sealed record ApproverTuning(ApproverOptions Options);

/// <summary>At start: the switches are true or false, and an explicitly named kubeconfig exists (an operator mistake otherwise).</summary>
internal sealed class ApproverStartupCheck : IValidateOptions<ApproverConfiguration>
{
    public ValidateOptionsResult Validate(string? name, ApproverConfiguration options)
    {
        var problems = new List<string>();
        var enabled = true;
        try { enabled = !SwitchText.Parse("--no-approver", options.NoApprover); }
        catch (SettingsException e) { problems.Add(e.Message); }
        try { SwitchText.Parse("--deny-forged", options.DenyForged); }
        catch (SettingsException e) { problems.Add(e.Message); }
        if (enabled && options.Kubeconfig is { } path && !File.Exists(path))
            problems.Add($"--kubeconfig: '{path}' does not exist");
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }
}
