using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
using Provisioner.Hosting;
using Provisioner.Pxe;
using Provisioner.Primitives;

namespace Provisioner.Cli;

/// <summary>
/// Values as given on one layer (flags, environment or provisioner.yaml); null = not given there. A typed view for
/// callers and tests: each property is a <see cref="SettingsTable"/> key (its name, or its
/// <see cref="ConfigurationKeyNameAttribute"/>), converted to and from configuration data by that name.
/// </summary>
internal sealed record SettingsLayer(string? Profiles = null, string? Templates = null, string? Assets = null,
    IReadOnlyList<string>? Listen = null, string? LogFormat = null, string? ClusterDir = null, string? Kubeconfig = null, string? Store = null, PxeSettingsLayer? Pxe = null,
    string? NoApprover = null, string? DenyForged = null, string? BaseUrl = null,
    IReadOnlyList<string>? ListenTls = null, string? TlsCert = null, string? TlsKey = null)
{
    internal Dictionary<string, string?> ToData()
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        LayerData.Write(this, data);
        return data;
    }

    internal static SettingsLayer FromData(IConfiguration data) => (SettingsLayer)LayerData.Read(typeof(SettingsLayer), data);
}

/// <summary>Maps the typed layers to configuration data by property name; nested layers (PXE) are flattened.</summary>
internal static class LayerData
{
    private static string KeyOf(PropertyInfo p) => p.GetCustomAttribute<ConfigurationKeyNameAttribute>()?.Name ?? p.Name;

    private static bool IsLayer(Type t) => t == typeof(PxeSettingsLayer);

    public static void Write(object layer, IDictionary<string, string?> data)
    {
        foreach (var p in layer.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (p.Name == "EqualityContract") continue;
            var value = p.GetValue(layer);
            if (value is null) continue;
            if (IsLayer(p.PropertyType)) Write(value, data);
            else SettingsSources.Put(data, SettingsTable.Get(KeyOf(p)), value as IEnumerable<string> is { } list && value is not string ? list : [(string)value]);
        }
    }

    /// <summary>Calls the record's primary constructor with each parameter's value from <paramref name="data"/>.</summary>
    public static object Read(Type type, IConfiguration data)
    {
        var ctor = type.GetConstructors().Single(c => c.GetParameters().Length > 1);
        var args = ctor.GetParameters().Select(param =>
        {
            var p = type.GetProperty(param.Name!)!;
            if (IsLayer(p.PropertyType)) return Read(p.PropertyType, data);
            var text = data[SettingsTable.Get(KeyOf(p)).Key];
            if (text is null) return null;
            return p.PropertyType == typeof(string) ? text : (object)text.Split(',');
        }).ToArray();
        return ctor.Invoke(args);
    }
}

/// <summary>
/// Resolves settings with the precedence flags &gt; <c>PROVISIONER_*</c> environment &gt; provisioner.yaml &gt;
/// built-in defaults (Microsoft.Extensions.Configuration merges, the binder fills <see cref="ProvisionerSettings"/>,
/// <see cref="SettingsValidator"/> checks before anything starts) and reports a bad value naming its flag.
/// </summary>
internal static class Settings
{
    public const string DefaultConfigFile = "provisioner.yaml";

    public static SettingsLayer FromEnvironment(Func<string, string?> env) =>
        SettingsLayer.FromData(new ConfigurationBuilder().Add(new SettingsSources.EnvironmentSettingsSource(env)).Build());

    /// <summary>The PXE settings given in <c>PROVISIONER_*</c> variables alone.</summary>
    public static PxeSettingsLayer PxeFromEnvironment(Func<string, string?> env) => FromEnvironment(env).Pxe ?? new PxeSettingsLayer();

    /// <summary>
    /// Resolves PXE layers (highest precedence first) into options; null when neither TFTP nor ProxyDHCP is on.
    /// Only syntax is checked here; what depends on the host (interfaces, files) is checked when the server starts.
    /// </summary>
    public static PxeOptions? ResolvePxe(IEnumerable<PxeSettingsLayer?> layersByPrecedence) =>
        Resolve([.. layersByPrecedence.Select(l => new SettingsLayer(Pxe: l))]).Pxe;

    /// <summary>Reads provisioner.yaml; a missing default file is fine, a missing explicit one is an error.</summary>
    public static SettingsLayer FromFile(string? path, bool explicitlyGiven)
    {
        if (path is null)
        {
            if (explicitlyGiven) throw new SettingsException("config file '' does not exist");
            return new SettingsLayer();
        }
        return SettingsLayer.FromData(new ConfigurationBuilder().Add(new SettingsSources.YamlSettingsSource(path, explicitlyGiven)).Build());
    }

    public static ServerOptions Resolve(params SettingsLayer[] layersByPrecedence)
    {
        var builder = new ConfigurationBuilder();
        foreach (var layer in layersByPrecedence.Reverse()) builder.Add(new SettingsSources.LayerSource(layer.ToData(), "layer"));
        return Resolve(builder.Build()).Server;
    }

    /// <summary>Binds and validates; every bad value is one line of the thrown <see cref="SettingsException"/>.</summary>
    internal static ResolvedSettings Resolve(IConfigurationRoot configuration)
    {
        var settings = configuration.Get<ProvisionerSettings>() ?? new ProvisionerSettings();
        var validation = new SettingsValidator().Validate(Options.DefaultName, settings);
        if (validation.Failed) throw new SettingsException(string.Join('\n', validation.Failures));
        return SettingsValidator.Convert(settings, configuration, out _)!;
    }
}

/// <summary>What the command line needs beyond <see cref="ServerOptions"/>.</summary>
internal sealed record ResolvedSettings(ServerOptions Server, bool ApproverEnabled, bool DenyForged, Uri? BaseUrl);

/// <summary>
/// Checks every setting's syntax before anything starts and collects every problem, each naming its flag (the one
/// spelling all three forms share). What depends on the host (interfaces, files, ports) is checked when serving starts.
/// </summary>
internal sealed class SettingsValidator : IValidateOptions<ProvisionerSettings>
{
    public ValidateOptionsResult Validate(string? name, ProvisionerSettings options)
    {
        Convert(options, null, out var problems);
        return problems.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(problems);
    }

    internal static ResolvedSettings? Convert(ProvisionerSettings s, IConfigurationRoot? origin, out List<string> problems)
    {
        var found = new List<string>();
        problems = found;
        T? Check<T>(Func<T> parse)
        {
            try { return parse(); }
            catch (SettingsException e) { found.Add(e.Message); return default; }
        }

        var profiles = s.Profiles ?? "profiles";
        var templates = TemplateLocation.Resolve(profiles, s.Templates, origin is null ? null : SettingsSources.Origin(origin, "templates"));
        var listen = new List<ListenAddress>();
        foreach (var text in Split(s.Listen))
        {
            if (ListenAddress.TryParse(text, out var address, out var error)) listen.Add(address!);
            else found.Add("--listen: " + error);
        }
        var listenTls = new List<ListenAddress>();
        foreach (var text in Split(s.ListenTls))
        {
            if (ListenAddress.TryParse(text, out var address, out var error)) listenTls.Add(address!);
            else found.Add("--listen-tls: " + error);
        }
        if (Boot.ServingTlsConfiguration.PairProblem(s.TlsCert, s.TlsKey) is { } pair) found.Add(pair);
        var format = (s.LogFormat ?? "text").ToLowerInvariant() switch
        {
            "text" => LogFormat.Text,
            "json" => LogFormat.Json,
            _ => Check<LogFormat>(() => throw new SettingsException($"--log-format: '{s.LogFormat}' is not 'text' or 'json'")),
        };
        var noApprover = Check(() => Switch("noApprover", s.NoApprover));
        var denyForged = Check(() => Switch("denyForged", s.DenyForged));
        Uri? baseUrl = null;
        if (s.BaseUrl is not null && (!Uri.TryCreate(s.BaseUrl, UriKind.Absolute, out baseUrl) || baseUrl.Scheme is not ("http" or "https")))
            found.Add($"--base-url: '{s.BaseUrl}' is not an http(s) URL");
        var pxe = Check(() => PxeSettings.ToOptions(s.Tftp, s.ProxyDhcp, s.IpxeDir, s.UefiBootFile, s.TftpRoot,
            Switch("pxeChainFirst", s.PxeChainFirst)));
        if (found.Count > 0) return null;

        var server = new ServerOptions
        {
            ProfilesDirectory = profiles,
            TemplatesDirectory = templates.Directory,
            TemplatesOrigin = templates.Origin,
            AssetsDirectory = s.Assets ?? "assets",
            ClusterDirectory = s.ClusterDir,
            Approver = new Approval.ApproverOptions
            {
                Enabled = !noApprover,
                Kubeconfig = s.Kubeconfig,
                Policy = Approval.CsrPolicyOptions.Default with { DenyForged = denyForged },
            },
            StoreDirectory = s.Store,
            Listen = listen,
            ListenTls = listenTls,
            TlsCertificateFile = s.TlsCert,
            TlsKeyFile = s.TlsKey,
            LogFormat = format,
            Pxe = pxe,
        };
        return new ResolvedSettings(server, !noApprover, denyForged, baseUrl);
    }

    internal static IEnumerable<string> Split(string? list) =>
        list?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];

    /// <summary>A switch's text form, as the environment and the file write it.</summary>
    internal static bool Switch(string key, string? text) => SwitchText.Parse(SettingsTable.Get(key).Flag, text);
}

/// <summary>
/// Where the Ignition templates are when no setting names them: <c>ignition-templates/</c> beside the profiles (a
/// checkout, or a site directory laid out like one), else the templates shipped beside the program — so a copy
/// of the example profiles on its own validates and serves.
/// </summary>
internal static class TemplateLocation
{
    /// <summary>The templates that build and publish copy beside the program (see Provisioner.csproj).</summary>
    public static string Shipped => Path.Combine(AppContext.BaseDirectory, "ignition-templates");

    public static (string Directory, string Origin) Resolve(string profiles, string? given, string? givenBy, string? shipped = null)
    {
        if (given is not null) return (given, givenBy ?? "given");
        var beside = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(profiles.TrimEnd('/')))!, "ignition-templates");
        if (Directory.Exists(beside)) return (beside, "beside the profiles");
        shipped ??= Shipped;
        // Neither exists: name the one beside the profiles, which is what the operator is most likely to create.
        return Directory.Exists(shipped) ? (shipped, $"shipped with provisioner; no {beside}") : (beside, "beside the profiles (missing)");
    }
}

