using System.CommandLine;
using Microsoft.Extensions.Configuration;
using YamlDotNet.RepresentationModel;
using Provisioner.Primitives;

namespace Provisioner.Cli;

/// <summary>
/// The three places a setting can come from, as Microsoft.Extensions.Configuration sources, each driven by
/// <see cref="SettingsTable"/>: provisioner.yaml (lowest), <c>PROVISIONER_*</c>, flags (highest). Every source
/// leaves out blank values, so an empty variable means "not set" rather than "set to nothing".
/// </summary>
internal static class SettingsSources
{
    /// <summary>The merged configuration; a missing default file is fine, a missing named one is an error.</summary>
    public static IConfigurationRoot Build(IReadOnlyDictionary<string, string?> flags, Func<string, string?> env, string? configFlag)
    {
        var configEnv = Blank(env(SettingsTable.ConfigEnvironment));
        var path = configFlag ?? configEnv ?? Settings.DefaultConfigFile;
        return new ConfigurationBuilder()
            .Add(new YamlSettingsSource(path, explicitlyGiven: configFlag is not null || configEnv is not null))
            .Add(new EnvironmentSettingsSource(env))
            .Add(new LayerSource(flags, "flags"))
            .Build();
    }

    /// <summary>Which source gave <paramref name="key"/> (the highest that has it), for messages; null = a default.</summary>
    public static string? Origin(IConfigurationRoot root, string key)
    {
        var setting = SettingsTable.Get(key);
        foreach (var provider in root.Providers.Reverse())
        {
            if (!provider.TryGet(setting.Key, out _)) continue;
            return provider switch
            {
                YamlSettingsProvider file => $"{file.Path}: {setting.Key}",
                EnvironmentSettingsProvider => setting.Environment,
                _ => setting.Flag,
            };
        }
        return null;
    }

    internal static string? Blank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    /// <summary>Data as the configuration holds it: lists comma-joined, so a higher layer's list replaces a lower one's.</summary>
    internal static void Put(IDictionary<string, string?> data, Setting setting, IEnumerable<string?>? values)
    {
        var kept = (values ?? []).Select(Blank).OfType<string>().ToList();
        if (kept.Count > 0) data[setting.Key] = string.Join(',', kept);
    }

    /// <summary>Values of one layer (flags, or a typed <see cref="SettingsLayer"/>) given as data.</summary>
    internal sealed class LayerSource(IReadOnlyDictionary<string, string?> data, string name) : IConfigurationSource
    {
        public IConfigurationProvider Build(IConfigurationBuilder builder) => new LayerProvider(data, name);
    }

    internal sealed class LayerProvider : ConfigurationProvider
    {
        private readonly string _name;

        public LayerProvider(IReadOnlyDictionary<string, string?> data, string name)
        {
            _name = name;
            foreach (var (k, v) in data) Data[k] = v;
        }

        public override string ToString() => _name;
    }

    internal sealed class EnvironmentSettingsSource(Func<string, string?> env) : IConfigurationSource
    {
        public IConfigurationProvider Build(IConfigurationBuilder builder) => new EnvironmentSettingsProvider(env);
    }

    /// <summary>
    /// <c>PROVISIONER_*</c> by the table's names. Not AddEnvironmentVariables: its names map by <c>__</c>, not by
    /// these spellings, and the process environment is passed in so tests need not change it.
    /// </summary>
    internal sealed class EnvironmentSettingsProvider(Func<string, string?> env) : ConfigurationProvider
    {
        public override void Load()
        {
            foreach (var setting in SettingsTable.All)
            {
                var text = env(setting.Environment);
                IEnumerable<string?>? values = setting.Kind == SettingKind.List ? text?.Split(',') : new[] { text };
                Put(Data, setting, values);
            }
        }
    }

    internal sealed class YamlSettingsSource(string path, bool explicitlyGiven) : IConfigurationSource
    {
        public IConfigurationProvider Build(IConfigurationBuilder builder) => new YamlSettingsProvider(path, explicitlyGiven);
    }

    /// <summary>provisioner.yaml: a flat mapping of the table's keys. Unknown keys and bad shapes stop with file:line.</summary>
    internal sealed class YamlSettingsProvider(string path, bool explicitlyGiven) : ConfigurationProvider
    {
        public string Path => path;

        public override void Load()
        {
            if (!File.Exists(path))
            {
                if (explicitlyGiven) throw new SettingsException($"config file '{path}' does not exist");
                return;
            }
            var yaml = new YamlStream();
            try { yaml.Load(new StringReader(File.ReadAllText(path))); }
            catch (YamlDotNet.Core.YamlException e) { throw new SettingsException($"{path}:{e.Start.Line}:{e.Start.Column}: not valid YAML: {e.InnerException?.Message ?? e.Message}"); }
            if (yaml.Documents.Count == 0) return;
            if (yaml.Documents[0].RootNode is not YamlMappingNode map) throw new SettingsException($"{path}: expected a mapping of settings");
            foreach (var (k, v) in map.Children)
            {
                var key = (k as YamlScalarNode)?.Value ?? "";
                // Case-sensitive on purpose: the documented key is the only spelling, as for profiles.
                var setting = SettingsTable.All.FirstOrDefault(s => s.Key == key)
                    ?? throw new SettingsException($"{path}:{k.Start.Line}:{k.Start.Column}: unknown setting '{key}' (known: {string.Join(", ", SettingsTable.All.Select(s => s.Key))})");
                string Scalar(YamlNode node) => (node as YamlScalarNode)?.Value ?? throw new SettingsException($"{path}:{node.Start.Line}: '{key}' must be a single value");
                Put(Data, setting, setting.Kind == SettingKind.List && v is YamlSequenceNode seq ? seq.Children.Select(Scalar) : [Scalar(v)]);
            }
        }
    }
}

/// <summary>
/// The flags of the table, one <see cref="Option"/> per setting, shared by the commands that take it (the same
/// instance on several commands, as System.CommandLine allows).
/// </summary>
internal sealed class SettingsFlags
{
    private readonly Dictionary<Setting, Option> _options = [];

    public SettingsFlags()
    {
        foreach (var s in SettingsTable.All)
        {
            // Every flag's help names its other two forms, so they are discoverable from --help.
            var description = $"{s.Description} Or {s.Environment}, or '{s.Key}:' in {Settings.DefaultConfigFile}.";
            _options[s] = s.Kind switch
            {
                SettingKind.List => new Option<string[]>(s.Flag) { Description = description, HelpName = s.HelpName, AllowMultipleArgumentsPerToken = false, Arity = ArgumentArity.ZeroOrMore },
                // bool? so that an absent flag leaves the environment's or the file's value alone.
                SettingKind.Switch => new Option<bool?>(s.Flag) { Description = description },
                _ => new Option<string?>(s.Flag) { Description = description, HelpName = s.HelpName },
            };
        }
        Config = new Option<string?>(SettingsTable.ConfigFlag)
        {
            Description = $"Settings file. Default: ./{Settings.DefaultConfigFile} when present, or {SettingsTable.ConfigEnvironment}. Flags win over PROVISIONER_* variables, which win over the file.",
            HelpName = "FILE",
        };
    }

    public Option<string?> Config { get; }

    public Option Of(string key) => _options[SettingsTable.Get(key)];

    /// <summary>The options a command takes, in table order, then <c>--config</c>.</summary>
    public IEnumerable<Option> For(SettingCommands command) =>
        [.. SettingsTable.All.Where(s => s.Commands.HasFlag(command)).Select(s => _options[s]), Config];

    /// <summary>What was given on the command line, as configuration data.</summary>
    public Dictionary<string, string?> Read(ParseResult result)
    {
        var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var (setting, option) in _options)
        {
            if (result.GetResult(option) is null) continue; // not on this command, or not given
            switch (option)
            {
                case Option<string[]> list: SettingsSources.Put(data, setting, result.GetValue(list)); break;
                case Option<bool?> flag when result.GetValue(flag) is { } on: data[setting.Key] = on ? "true" : "false"; break;
                case Option<string?> value: SettingsSources.Put(data, setting, [result.GetValue(value)]); break;
            }
        }
        return data;
    }
}
