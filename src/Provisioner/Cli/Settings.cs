using Provisioner.Hosting;
using Provisioner.Pxe;
using YamlDotNet.RepresentationModel;

namespace Provisioner.Cli;

/// <summary>Values as given on one layer (flags, environment or provisioner.yaml); null = not given there.</summary>
public sealed record SettingsLayer(string? Profiles = null, string? Templates = null, string? Assets = null,
    IReadOnlyList<string>? Listen = null, string? LogFormat = null, string? ClusterDir = null, string? Kubeconfig = null, string? Store = null, PxeSettingsLayer? Pxe = null);

/// <summary>
/// Resolves settings with the precedence flags &gt; <c>PROVISIONER_*</c> environment &gt; provisioner.yaml &gt;
/// built-in defaults, and reports a bad value with where it came from.
/// </summary>
public static class Settings
{
    public const string DefaultConfigFile = "provisioner.yaml";

    public static SettingsLayer FromEnvironment(Func<string, string?> env) => new(
        env("PROVISIONER_PROFILES"), env("PROVISIONER_TEMPLATES"), env("PROVISIONER_ASSETS"),
        env("PROVISIONER_LISTEN")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        env("PROVISIONER_LOG_FORMAT"), env("PROVISIONER_CLUSTER_DIR"), env("PROVISIONER_KUBECONFIG"), env("PROVISIONER_STORE"), PxeSettings.FromEnvironment(env));

    /// <summary>Reads provisioner.yaml; a missing default file is fine, a missing explicit one is an error.</summary>
    public static SettingsLayer FromFile(string? path, bool explicitlyGiven)
    {
        if (path is null || !File.Exists(path))
        {
            if (explicitlyGiven) throw new SettingsException($"config file '{path}' does not exist");
            return new SettingsLayer();
        }
        var yaml = new YamlStream();
        try { yaml.Load(new StringReader(File.ReadAllText(path))); }
        catch (YamlDotNet.Core.YamlException e) { throw new SettingsException($"{path}:{e.Start.Line}:{e.Start.Column}: not valid YAML: {e.InnerException?.Message ?? e.Message}"); }
        if (yaml.Documents.Count == 0) return new SettingsLayer();
        if (yaml.Documents[0].RootNode is not YamlMappingNode map) throw new SettingsException($"{path}: expected a mapping of settings");
        string? profiles = null, templates = null, assets = null, logFormat = null, clusterDir = null, kubeconfig = null, store = null;
        List<string>? listen = null;
        var pxe = new PxeSettingsLayer();
        foreach (var (k, v) in map.Children)
        {
            var key = ((YamlScalarNode)k).Value;
            string Scalar() => (v as YamlScalarNode)?.Value ?? throw new SettingsException($"{path}:{v.Start.Line}: '{key}' must be a single value");
            switch (key)
            {
                case "profiles": profiles = Scalar(); break;
                case "templates": templates = Scalar(); break;
                case "assets": assets = Scalar(); break;
                case "logFormat": logFormat = Scalar(); break;
                case "clusterDir": clusterDir = Scalar(); break;
                case "kubeconfig": kubeconfig = Scalar(); break;
                case "store": store = Scalar(); break;
                case "listen":
                    listen = v is YamlSequenceNode seq ? [.. seq.Children.Select(c => ((YamlScalarNode)c).Value ?? "")] : [Scalar()];
                    break;
                case var _ when key is not null && PxeSettings.TryRead(ref pxe, key, Scalar): break;
                default:
                    throw new SettingsException($"{path}:{k.Start.Line}:{k.Start.Column}: unknown setting '{key}' (known: profiles, templates, assets, clusterDir, kubeconfig, store, listen, logFormat, {string.Join(", ", PxeSettings.FileKeys)})");
            }
        }
        return new SettingsLayer(profiles, templates, assets, listen, logFormat, clusterDir, kubeconfig, store, pxe);
    }

    public static ServerOptions Resolve(params SettingsLayer[] layersByPrecedence)
    {
        T? First<T>(Func<SettingsLayer, T?> pick) where T : class => layersByPrecedence.Select(pick).FirstOrDefault(v => v is not null);
        var profiles = First(l => l.Profiles) ?? "profiles";
        var templates = First(l => l.Templates) ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(profiles))!, "ignition-templates");
        var assets = First(l => l.Assets) ?? "assets";
        var listen = new List<ListenAddress>();
        foreach (var text in First(l => l.Listen is { Count: > 0 } ? l.Listen : null) ?? [])
        {
            if (!ListenAddress.TryParse(text, out var address, out var error)) throw new SettingsException("--listen: " + error);
            listen.Add(address!);
        }
        var formatText = First(l => l.LogFormat) ?? "text";
        var format = formatText.ToLowerInvariant() switch
        {
            "text" => LogFormat.Text,
            "json" => LogFormat.Json,
            _ => throw new SettingsException($"--log-format: '{formatText}' is not 'text' or 'json'"),
        };
        return new ServerOptions
        {
            ProfilesDirectory = profiles,
            TemplatesDirectory = templates,
            AssetsDirectory = assets,
            ClusterDirectory = First(l => l.ClusterDir),
            Approver = new Approval.ApproverOptions { Kubeconfig = First(l => l.Kubeconfig) },
            StoreDirectory = First(l => l.Store),
            Listen = listen,
            LogFormat = format,
            Pxe = PxeSettings.Resolve(layersByPrecedence.Select(l => l.Pxe)),
        };
    }
}

public sealed class SettingsException(string message) : Exception(message);
