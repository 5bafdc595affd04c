using System.CommandLine;
using System.Text.Json;
using Provisioner.Boot;
using Provisioner.Catalog;
using Provisioner.Hosting;
using Provisioner.Ignition;
using Provisioner.Profiles;
using Provisioner.Rendering;

namespace Provisioner.Cli;

/// <summary>
/// The <c>provisioner</c> command line. Spellings of commands and options are stable: scripts depend on them.
/// </summary>
public static class CommandLine
{
    public static RootCommand Build(TextWriter stdout, TextWriter stderr, Func<string, string?> env)
    {
        var profiles = new Option<string?>("--profiles") { Description = "Directory of machine profiles (*.yaml). Default: ./profiles, or PROVISIONER_PROFILES.", HelpName = "DIR" };
        var templates = new Option<string?>("--templates") { Description = "Directory of Ignition templates. Default: ignition-templates beside the profiles directory.", HelpName = "DIR" };
        var assets = new Option<string?>("--assets") { Description = "Directory served at /assets (kernels, initrds, images). Default: ./assets.", HelpName = "DIR" };
        var store = ReleaseCommands.StoreOption();
        var clusterDir = new Option<string?>("--cluster-dir") { Description = "Directory of the rendered cluster (auth/, tls/, manifests/, bootstrap tokens). Default: cluster beside the profiles directory.", HelpName = "DIR" };
        var listen = new Option<string[]>("--listen") { Description = "Address to listen on, ADDR:PORT; repeatable. Default: 127.0.0.1:8080 plus the profiles' provisionerUrl address.", HelpName = "ADDR:PORT", AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.ZeroOrMore };
        var logFormat = new Option<string?>("--log-format") { Description = "Log output: 'text' for people (default) or 'json' for machines.", HelpName = "text|json" };
        var config = new Option<string?>("--config") { Description = $"Settings file. Default: ./{Settings.DefaultConfigFile} when present. Flags win over PROVISIONER_* variables, which win over the file.", HelpName = "FILE" };
        var baseUrl = new Option<string?>("--base-url") { Description = "Base URL to write into the output when the profiles set no provisionerUrl.", HelpName = "URL" };
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "Kubeconfig of the kubelet CSR approver. Default: <cluster-dir>/auth/provisioner-approver.kubeconfig when it exists, else the approver is off.", HelpName = "FILE" };
        var noApprover = new Option<bool>("--no-approver") { Description = "Do not approve kubelet CSRs." };
        var denyForged = new Option<bool>("--deny-forged") { Description = "Deny clearly forged CSRs (bad signature, CA use, another machine's token) instead of leaving them pending." };
        var pxe = new Provisioner.Pxe.PxeCommandLineOptions();
        var machine = new Argument<string>("machine") { Description = "Machine name as written in the profiles." };

        ServerOptions Options(ParseResult r)
        {
            var configPath = r.GetValue(config);
            var flags = new SettingsLayer(r.GetValue(profiles), r.GetValue(templates),
                r.GetValue(assets), r.GetValue(listen), r.GetValue(logFormat), r.GetValue(clusterDir), r.GetValue(kubeconfig), r.GetValue(store), pxe.Read(r));
            return Settings.Resolve(flags, Settings.FromEnvironment(env), Settings.FromFile(configPath ?? Settings.DefaultConfigFile, configPath is not null));
        }

        var serve = new Command("serve", "Serve iPXE scripts, Ignition configs and assets to machines that network-boot.")
            { profiles, templates, assets, clusterDir, listen, logFormat, config, store, kubeconfig, noApprover, denyForged };
        foreach (var option in pxe.All) serve.Options.Add(option);
        serve.SetAction((r, ct) => Run(stderr, async () =>
        {
            var options = Approval.ApproverCommandLine.Apply(Options(r), !r.GetValue(noApprover), r.GetValue(denyForged));
            await using var server = ProvisionerServer.Build(options);
            await server.RunAsync(ct);
            return 0;
        }));

        var validate = new Command("validate", "Check the profiles and templates and print every problem with file, line, column and field. Exit code 1 when invalid.")
            { profiles, templates, config };
        validate.SetAction((r, ct) => Run(stderr, () =>
        {
            var options = Options(r);
            var (snapshot, problems) = CatalogLoader.TryLoad(ProvisionerServer.Sources(options), NewRenderer(), TimeProvider.System);
            if (snapshot is null)
            {
                foreach (var p in problems) stderr.WriteLine(p);
                stderr.WriteLine($"{problems.Count} problem(s) found.");
                return Task.FromResult(1);
            }
            stdout.WriteLine($"ok: cluster {snapshot.Profiles.Cluster.Name}, {snapshot.Profiles.Roles.Count} roles, {snapshot.Profiles.Machines.Length} machines, {snapshot.Templates.Templates.Count} templates");
            return Task.FromResult(0);
        }));

        var ipxe = new Command("ipxe", "Print the iPXE script a machine would get.") { machine, profiles, templates, config, baseUrl, store };
        ipxe.SetAction((r, ct) => Run(stderr, () =>
        {
            var options = Options(r);
            return WithMachine(r, options, machine, baseUrl, stderr, (snapshot, m, url) =>
            {
                // The one identity the machine's firmware would most likely send: its first MAC, else the others.
                var s = m.Select;
                var identity = !s.Macs.IsEmpty ? new MachineQuery(s.Macs[0], null, null, null)
                    : new MachineQuery(null, s.Uuid, s.Uuid is null ? s.Serial : null, s.Uuid is null && s.Serial is null ? s.Hostname : null);
                // Release artifacts resolve against the store serve would use, so this prints what the machine would get.
                var content = new Release.ContentStore(Release.ReleaseStoreLocation.Resolve(options.StoreDirectory, options.ProfilesDirectory));
                stdout.Write(IpxeScripts.ForMachine(url.GetLeftPart(UriPartial.Authority), snapshot.Profiles, m, identity,
                    Release.BootArtifacts.Resolver(snapshot.Profiles, content, Release.Architectures.Default)));
            });
        }));

        var ignition = new Command("ignition", "Print the Ignition config a machine would get (JSON).") { machine, profiles, templates, config, baseUrl };
        ignition.SetAction((r, ct) => Run(stderr, () => WithMachine(r, Options(r), machine, baseUrl, stderr, (snapshot, m, url) =>
        {
            var config = NewRenderer().Render(snapshot.Templates, snapshot.Profiles, m, url);
            using var doc = JsonDocument.Parse(IgnitionJson.Serialize(config));
            stdout.WriteLine(JsonSerializer.Serialize(doc.RootElement, new JsonSerializerOptions { WriteIndented = true }));
        })));

        var root = new RootCommand("Provisioner: network-boots bare-metal machines into a Kubernetes cluster. " +
                                   "It serves iPXE scripts, per-role Ignition configs and boot assets from machine profiles.")
        {
            serve, validate, ipxe, ignition, ReleaseCommands.Build(stdout, stderr, env),
            RenderCommand.Build(stdout, Options, profiles, templates, config, Run, stderr),
        };
        foreach (var command in StatusCommands.Build(stdout, stderr, env)) root.Subcommands.Add(command);
        return root;
    }

    /// <summary>Parses and runs a command line, writing help and errors to the given writers.</summary>
    public static Task<int> InvokeAsync(string[] args, TextWriter stdout, TextWriter stderr, Func<string, string?> env, CancellationToken cancellationToken) =>
        Build(stdout, stderr, env).Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr }, cancellationToken);

    private static IgnitionRenderer NewRenderer() => new(new TextTemplates());

    private static Task<int> WithMachine(ParseResult r, ServerOptions options, Argument<string> machineArg, Option<string?> baseUrlOption,
        TextWriter stderr, Action<CatalogSnapshot, MachineSpec, Uri> print)
    {
        var snapshot = ProvisionerServer.LoadCatalog(options, NewRenderer());
        var name = r.GetValue(machineArg)!;
        var machine = snapshot.Profiles.FindMachine(name);
        if (machine is null)
        {
            stderr.WriteLine($"no machine named '{name}' (machines: {string.Join(", ", snapshot.Profiles.Machines.Select(m => m.Name))})");
            return Task.FromResult(1);
        }
        var urlText = r.GetValue(baseUrlOption);
        Uri url;
        if (urlText is not null)
        {
            if (!Uri.TryCreate(urlText, UriKind.Absolute, out var parsed) || parsed.Scheme is not ("http" or "https"))
                throw new SettingsException($"--base-url: '{urlText}' is not an http(s) URL");
            url = parsed;
        }
        else url = snapshot.Profiles.Cluster.ProvisionerUrl ?? new Uri("http://127.0.0.1:8080/");
        print(snapshot, machine, url);
        return Task.FromResult(0);
    }

    /// <summary>Known failures print one clear message and exit 1; no stack traces for operator mistakes.</summary>
    private static async Task<int> Run(TextWriter stderr, Func<Task<int>> action)
    {
        try
        {
            return await action();
        }
        catch (ProfileValidationException e)
        {
            foreach (var d in e.Diagnostics) await stderr.WriteLineAsync(d.ToString());
            await stderr.WriteLineAsync($"{e.Diagnostics.Count} problem(s) found; not starting.");
            return 1;
        }
        catch (Exception e) when (e is SettingsException or DirectoryNotFoundException or IOException
                                   or Provisioner.Cluster.ClusterRenderException or Provisioner.Pki.PkiException or Rendering.TemplateException)
        {
            await stderr.WriteLineAsync("error: " + e.Message);
            return 1;
        }
    }
}
