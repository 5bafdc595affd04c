using System.CommandLine;
using Provisioner.Hosting;
using Provisioner.Rendering;
using Provisioner.Tokens;

namespace Provisioner.Cli;

/// <summary>
/// <c>provisioner render --profiles DIR --out DIR</c>: writes the cluster directory (auth/, tls/, bootstrap-manifests/,
/// manifests/, control-plane/, ignition/) with the same code <c>serve</c> runs on start. Safe to re-run.
/// </summary>
internal static class RenderCommand
{
    /// <summary>The settings' flags (--profiles, --templates, --cluster-dir, --config) are added by the caller from the settings table.</summary>
    public static Command Build(TextWriter stdout, Func<ParseResult, ServerOptions> resolve,
        Func<TextWriter, Func<Task<int>>, Task<int>> run, TextWriter stderr)
    {
        var output = new Option<string?>("--out") { Description = "Cluster directory to write. Default: the --cluster-dir setting (cluster beside the profiles).", HelpName = "DIR" };
        var command = new Command("render", "Render the cluster directory: PKI, kubeconfigs, static pods, manifests and every machine's Ignition. Existing keys and CAs are kept; unchanged files are not rewritten.")
            { output };
        command.SetAction((r, ct) => run(stderr, async () =>
        {
            var options = resolve(r);
            var outDir = Path.GetFullPath(r.GetValue(output) ?? options.ResolvedClusterDirectory);
            var renderer = new IgnitionRenderer(new TextTemplates());
            var snapshot = ProvisionerServer.LoadCatalog(options, renderer);
            var renderOptions = new ClusterRenderOptions();
            var tokens = await BootstrapTokenStore.OpenAsync(ClusterRenderer.TokenFile(outDir), TimeProvider.System, renderOptions.TokenLifetime, ct);
            var machineState = await Inventory.MachineStateStore.OpenAsync(Inventory.MachineStateStore.PathIn(outDir), TimeProvider.System, ct);
            var result = await ClusterRenderer.RenderAsync(snapshot.Profiles, snapshot.Templates, renderer, outDir, tokens,
                snapshot.Profiles.Cluster.ProvisionerUrl ?? Catalog.CatalogLoader.PlaceholderBaseUrl, renderOptions, ct, machineState.JoinedMachines());
            foreach (var item in result.Pki.Items.Where(i => i.Action != Pki.PkiAction.Reused || i.Reason is not null))
                await stdout.WriteLineAsync($"tls {item.Name}: {item.Action.ToString().ToLowerInvariant()}{(item.Reason is null ? "" : " (" + item.Reason + ")")}");
            foreach (var path in result.Written) await stdout.WriteLineAsync($"wrote {path}");
            foreach (var path in result.Removed) await stdout.WriteLineAsync($"removed {path}");
            await stdout.WriteLineAsync($"ok: {outDir}: {result.Written.Length} written, {result.Unchanged.Length} unchanged, " +
                $"{result.Pki.Created.Count()} key pair(s) created, {result.Pki.Reissued.Count()} re-issued");
            return 0;
        }));
        return command;
    }
}
