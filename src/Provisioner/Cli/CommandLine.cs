using System.CommandLine;
using System.Text.Json;
using Microsoft.Extensions.Options;
using Provisioner.Boot;
using Provisioner.Catalog;
using Provisioner.Hosting;
using Provisioner.Ignition;
using Provisioner.Profiles;
using Provisioner.Rendering;
using Provisioner.Primitives;

namespace Provisioner.Cli;

/// <summary>
/// The <c>provisioner</c> command line. Spellings of commands and options are stable: scripts depend on them.
/// </summary>
internal static class CommandLine
{
    public static RootCommand Build(TextWriter stdout, TextWriter stderr, Func<string, string?> env)
    {
        // Every setting's flag comes from the one table (SettingsTable), shared by the commands that take it.
        var flags = new SettingsFlags();
        var machine = new Argument<string>("machine") { Description = "Machine name as written in the profiles." };

        ResolvedSettings Resolve(ParseResult r) =>
            Settings.Resolve(SettingsSources.Build(flags.Read(r), env, r.GetValue(flags.Config)));
        ServerOptions Options(ParseResult r) => Resolve(r).Server;

        Command WithSettings(Command command, SettingCommands which)
        {
            foreach (var option in flags.For(which)) command.Options.Add(option);
            return command;
        }

        var serve = WithSettings(new Command("serve", "Serve iPXE scripts, Ignition configs and assets to machines that network-boot."), SettingCommands.Serve);
        serve.SetAction((r, ct) => Run(stderr, async () =>
        {
            // Syntax first, every bad value at once; what depends on the host is checked when the server starts.
            var configuration = SettingsSources.Build(flags.Read(r), env, r.GetValue(flags.Config));
            var settings = Settings.Resolve(configuration);
            await using var server = ProvisionerServer.Build(settings.Server, configuration);
            await server.RunAsync(ct);
            return 0;
        }));

        var validate = WithSettings(new Command("validate", "Check the profiles and templates and print every problem with file, line, column and field. Exit code 1 when invalid."),
            SettingCommands.Validate);
        validate.SetAction((r, ct) => Run(stderr, () =>
        {
            var options = Options(r);
            // Which templates were checked, and why those: a copied profiles directory silently using other
            // templates than the operator edited would be worse than an error.
            var templatesLine = $"templates: {Path.GetFullPath(options.TemplatesDirectory)} ({options.TemplatesOrigin})";
            var (snapshot, problems) = CatalogLoader.TryLoad(ProvisionerServer.Sources(options), NewRenderer(), TimeProvider.System);
            if (snapshot is null)
            {
                stderr.WriteLine(templatesLine);
                foreach (var p in problems) stderr.WriteLine(p);
                stderr.WriteLine($"{problems.Count} problem(s) found.");
                return Task.FromResult(1);
            }
            stdout.WriteLine(templatesLine);
            stdout.WriteLine($"ok: cluster {snapshot.Profiles.Cluster.Name}, {snapshot.Profiles.Roles.Count} roles, {snapshot.Profiles.Machines.Length} machines, {snapshot.Templates.Templates.Count} templates");
            return Task.FromResult(0);
        }));

        var ipxe = WithSettings(new Command("ipxe", "Print the iPXE script a machine would get.") { machine }, SettingCommands.Ipxe);
        ipxe.SetAction((r, ct) => Run(stderr, () =>
        {
            var settings = Resolve(r);
            var options = settings.Server;
            return WithMachine(r, settings, machine, stderr, (snapshot, m, url) =>
            {
                // The one identity the machine's firmware would most likely send: its first MAC, else the others.
                var s = m.Select;
                var identity = !s.Macs.IsEmpty ? new MachineQuery(s.Macs[0], null, null, null)
                    : new MachineQuery(null, s.Uuid, s.Uuid is null ? s.Serial : null, s.Uuid is null && s.Serial is null ? s.Hostname : null);
                // Release artifacts resolve against the store serve would use, so this prints what the machine would get.
                var content = new Release.ContentStore(Release.ReleaseStoreLocation.Resolve(options.StoreDirectory, options.ProfilesDirectory));
                stdout.Write(IpxeScripts.ForMachine(url.GetLeftPart(UriPartial.Authority), snapshot.Profiles, m, identity,
                    Release.BootArtifacts.Resolver(snapshot.Profiles, content, Architectures.Default)));
            });
        }));

        var ignition = WithSettings(new Command("ignition", "Print the Ignition config a machine would get (JSON).") { machine }, SettingCommands.Ignition);
        ignition.SetAction((r, ct) => Run(stderr, () => WithMachine(r, Resolve(r), machine, stderr, (snapshot, m, url) =>
        {
            var config = NewRenderer().Render(snapshot.Templates, snapshot.Profiles, m, url);
            using var doc = JsonDocument.Parse(IgnitionJson.Serialize(config));
            stdout.WriteLine(JsonSerializer.Serialize(doc.RootElement, new JsonSerializerOptions { WriteIndented = true }));
        })));

        var root = new RootCommand("Provisioner: network-boots bare-metal machines into a Kubernetes cluster. " +
                                   "It serves iPXE scripts, per-role Ignition configs and boot assets from machine profiles.")
        {
            serve, validate, ipxe, ignition, ReleaseCommands.Build(stdout, stderr, env),
            WithSettings(RenderCommand.Build(stdout, Options, Run, stderr), SettingCommands.Render),
        };
        foreach (var command in StatusCommands.Build(stdout, stderr, env)) root.Subcommands.Add(command);
        return root;
    }

    /// <summary>Parses and runs a command line, writing help and errors to the given writers.</summary>
    public static Task<int> InvokeAsync(string[] args, TextWriter stdout, TextWriter stderr, Func<string, string?> env, CancellationToken cancellationToken) =>
        Build(stdout, stderr, env).Parse(args).InvokeAsync(new InvocationConfiguration { Output = stdout, Error = stderr }, cancellationToken);

    private static IgnitionRenderer NewRenderer() => new(new TextTemplates());

    private static Task<int> WithMachine(ParseResult r, ResolvedSettings settings, Argument<string> machineArg,
        TextWriter stderr, Action<CatalogSnapshot, MachineSpec, Uri> print)
    {
        var snapshot = ProvisionerServer.LoadCatalog(settings.Server, NewRenderer());
        var name = r.GetValue(machineArg)!;
        var machine = snapshot.Profiles.FindMachine(name);
        if (machine is null)
        {
            stderr.WriteLine($"no machine named '{name}' (machines: {string.Join(", ", snapshot.Profiles.Machines.Select(m => m.Name))})");
            return Task.FromResult(1);
        }
        var url = settings.BaseUrl ?? snapshot.Profiles.Cluster.ProvisionerUrl ?? new Uri("http://127.0.0.1:8080/");
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
        catch (Exception e) when (StartupProblems(e) is { } problems)
        {
            // The options each capability checks at start (ValidateOnStart): one line per problem, naming its flag.
            foreach (var line in problems) await stderr.WriteLineAsync("error: " + line);
            return 1;
        }
        catch (Exception e) when (e is SettingsException or DirectoryNotFoundException or IOException
                                   or ClusterRenderException or Provisioner.Pki.PkiException or Rendering.TemplateException)
        {
            // A settings failure may list several bad values, one per line: each gets its own "error:".
            foreach (var line in e.Message.Split('\n')) await stderr.WriteLineAsync("error: " + line);
            return 1;
        }
    }

    /// <summary>
    /// The failures of options checked at start: one <see cref="OptionsValidationException"/>, or several in an
    /// <see cref="AggregateException"/> when several capabilities failed; null for any other exception.
    /// </summary>
    private static IReadOnlyList<string>? StartupProblems(Exception e) => e switch
    {
        OptionsValidationException one => [.. one.Failures],
        AggregateException many when many.InnerExceptions.Count > 0 && many.InnerExceptions.All(i => i is OptionsValidationException) =>
            [.. many.InnerExceptions.Cast<OptionsValidationException>().SelectMany(i => i.Failures)],
        _ => null,
    };
}
