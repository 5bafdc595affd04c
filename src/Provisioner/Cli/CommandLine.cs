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
        var listen = new Option<string[]>("--listen") { Description = "Address to listen on, ADDR:PORT; repeatable. Default: 127.0.0.1:8080 plus the profiles' provisionerUrl address.", HelpName = "ADDR:PORT", AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.ZeroOrMore };
        var logFormat = new Option<string?>("--log-format") { Description = "Log output: 'text' for people (default) or 'json' for machines.", HelpName = "text|json" };
        var config = new Option<string?>("--config") { Description = $"Settings file. Default: ./{Settings.DefaultConfigFile} when present. Flags win over PROVISIONER_* variables, which win over the file.", HelpName = "FILE" };
        var baseUrl = new Option<string?>("--base-url") { Description = "Base URL to write into the output when the profiles set no provisionerUrl.", HelpName = "URL" };
        var pxe = new Provisioner.Pxe.PxeCommandLineOptions();
        var machine = new Argument<string>("machine") { Description = "Machine name as written in the profiles." };

        ServerOptions Options(ParseResult r)
        {
            var configPath = r.GetValue(config);
            var flags = new SettingsLayer(r.GetValue(profiles), r.GetValue(templates),
                r.GetValue(assets), r.GetValue(listen), r.GetValue(logFormat), pxe.Read(r));
            return Settings.Resolve(flags, Settings.FromEnvironment(env), Settings.FromFile(configPath ?? Settings.DefaultConfigFile, configPath is not null));
        }

        var serve = new Command("serve", "Serve iPXE scripts, Ignition configs and assets to machines that network-boot.")
            { profiles, templates, assets, listen, logFormat, config };
        foreach (var option in pxe.All) serve.Options.Add(option);
        serve.SetAction((r, ct) => Run(stderr, async () =>
        {
            var options = Options(r);
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

        var ipxe = new Command("ipxe", "Print the iPXE script a machine would get.") { machine, profiles, templates, config, baseUrl };
        ipxe.SetAction((r, ct) => Run(stderr, () => WithMachine(r, Options(r), machine, baseUrl, stderr, (snapshot, m, url) =>
        {
            // The one identity the machine's firmware would most likely send: its first MAC, else the others.
            var s = m.Select;
            var identity = !s.Macs.IsEmpty ? new MachineQuery(s.Macs[0], null, null, null)
                : new MachineQuery(null, s.Uuid, s.Uuid is null ? s.Serial : null, s.Uuid is null && s.Serial is null ? s.Hostname : null);
            stdout.Write(IpxeScripts.ForMachine(url.GetLeftPart(UriPartial.Authority), snapshot.Profiles, m, identity));
        })));

        var ignition = new Command("ignition", "Print the Ignition config a machine would get (JSON).") { machine, profiles, templates, config, baseUrl };
        ignition.SetAction((r, ct) => Run(stderr, () => WithMachine(r, Options(r), machine, baseUrl, stderr, (snapshot, m, url) =>
        {
            var config = NewRenderer().Render(snapshot.Templates, snapshot.Profiles, m, url);
            using var doc = JsonDocument.Parse(IgnitionJson.Serialize(config));
            stdout.WriteLine(JsonSerializer.Serialize(doc.RootElement, new JsonSerializerOptions { WriteIndented = true }));
        })));

        return new RootCommand("Provisioner: network-boots bare-metal machines into a Kubernetes cluster. " +
                               "It serves iPXE scripts, per-role Ignition configs and boot assets from machine profiles.")
        {
            serve, validate, ipxe, ignition,
        };
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
        catch (Exception e) when (e is SettingsException or DirectoryNotFoundException or IOException)
        {
            await stderr.WriteLineAsync("error: " + e.Message);
            return 1;
        }
    }
}
