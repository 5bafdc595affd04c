using Provisioner.Hosting;
using Provisioner.Primitives;

namespace Provisioner.Cli;

/// <summary>The approver's <c>serve</c> flags applied to the resolved settings.</summary>
internal static class ApproverCommandLine
{
    /// <summary>An explicitly named kubeconfig that does not exist is an operator mistake, reported before starting.</summary>
    public static ServerOptions Apply(ServerOptions options, bool enabled, bool denyForged)
    {
        var approver = options.Approver with
        {
            Enabled = enabled,
            Policy = options.Approver.Policy with { DenyForged = denyForged },
        };
        if (enabled && approver.Kubeconfig is { } path && !File.Exists(path))
            throw new SettingsException($"--kubeconfig: '{path}' does not exist");
        return options with { Approver = approver };
    }
}
