using System.Security.Cryptography;
using System.Text.Json;

namespace Provisioner.Ignition;

/// <summary>
/// Checks a config for what Ignition (<c>ignition-validate</c>) rejects beyond the JSON schema: versions,
/// paths, duplicates, data URLs, hashes, modes, systemd units. Errors mean Ignition would refuse the
/// config (the machine would not boot); warnings mean it would accept it but probably not do what was meant.
/// </summary>
internal static class IgnitionValidator
{
    public const string SystemdUnitDirectory = "/etc/systemd/system";

    private static readonly HashSet<string> UnitSuffixes =
        [".service", ".socket", ".device", ".mount", ".automount", ".swap", ".target", ".path", ".timer", ".snapshot", ".slice", ".scope"];

    public static IReadOnlyList<IgnitionProblem> Validate(IgnitionConfig config)
    {
        ArgumentNullException.ThrowIfNull(config);
        var problems = new List<IgnitionProblem>();
        CheckConfig(config, problems);
        return problems;
    }

    /// <summary>Validates raw JSON: syntax, then unknown keys (warnings) against the declared spec version, then the typed checks.</summary>
    public static IReadOnlyList<IgnitionProblem> Validate(string json)
    {
        ArgumentNullException.ThrowIfNull(json);
        var problems = new List<IgnitionProblem>();
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException e)
        {
            problems.Add(Error("$", $"not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {e.Message}"));
            return problems;
        }
        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                problems.Add(Error("$", "an Ignition config must be a JSON object"));
                return problems;
            }
            var declared = document.RootElement.TryGetProperty("ignition", out var ignition) && ignition.ValueKind == JsonValueKind.Object
                && ignition.TryGetProperty("version", out var v) && v.ValueKind == JsonValueKind.String
                && IgnitionSpec.TryParseSupported(v.GetString(), out var parsed) ? parsed : IgnitionSpec.Supported[^1];
            WarnUnknownKeys(document.RootElement, IgnitionKnownKeys.Root, "$", declared, problems);
        }

        IgnitionConfig config;
        try
        {
            config = IgnitionJson.Deserialize(json);
        }
        catch (JsonException e)
        {
            problems.Add(Error(e.Path ?? "$", "does not match the Ignition config structure: " + e.Message));
            return problems;
        }
        CheckConfig(config, problems);
        return problems;
    }

    /// <summary>Throws <see cref="IgnitionValidationException"/> listing every error; warnings are let through.</summary>
    public static void ThrowIfInvalid(IgnitionConfig config)
    {
        var errors = Validate(config).Where(p => p.Severity == IgnitionSeverity.Error).ToList();
        if (errors.Count > 0) throw new IgnitionValidationException(errors);
    }

    private static void WarnUnknownKeys(JsonElement element, IgnitionKnownKeys node, string path, Version version, List<IgnitionProblem> problems)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                foreach (var property in element.EnumerateObject())
                {
                    var at = path + "." + property.Name;
                    var child = node.Child(property.Name, version, out var introducedIn);
                    if (child is not null)
                        WarnUnknownKeys(property.Value, child, at, version, problems);
                    else
                        problems.Add(Warning(at, introducedIn is null
                            ? $"unknown key '{property.Name}'; Ignition ignores it"
                            : $"key '{property.Name}' is not part of spec {IgnitionSpec.Format(version)} (it needs {IgnitionSpec.Format(introducedIn)}); Ignition ignores it"));
                }
                break;
            case JsonValueKind.Array:
                var i = 0;
                foreach (var item in element.EnumerateArray()) WarnUnknownKeys(item, node, $"{path}[{i++}]", version, problems);
                break;
        }
    }

    private static void CheckConfig(IgnitionConfig config, List<IgnitionProblem> problems)
    {
        if (!IgnitionSpec.TryParseSupported(config.Ignition.Version, out var version))
            problems.Add(Error("$.ignition.version", $"unsupported spec version '{config.Ignition.Version}' (supported: {IgnitionSpec.SupportedRange})"));
        else
            foreach (var feature in IgnitionSpec.RequiredFeatures(config).Where(f => f.Since > version))
                problems.Add(Error(feature.Path, $"{feature.Description} needs spec {IgnitionSpec.Format(feature.Since)} or newer, but the config declares {IgnitionSpec.Format(version)}"));

        CheckStorage(config.Storage, problems);
        CheckSystemd(config.Systemd, config.Storage, problems);
        CheckPasswd(config.Passwd, problems);
        CheckKernelArguments(config.KernelArguments, problems);
    }

    private static void CheckStorage(Storage? storage, List<IgnitionProblem> problems)
    {
        if (storage is null) return;
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        void Node(string at, string path, NodeUser? user, NodeUser? group)
        {
            CheckPath(at + ".path", path, problems);
            if (!seen.TryAdd(path, at + ".path"))
                problems.Add(Error(at + ".path", $"duplicate path '{path}' (also at {seen[path]})"));
            CheckOwner(at + ".user", user, problems);
            CheckOwner(at + ".group", group, problems);
        }

        for (var i = 0; i < (storage.Files?.Count ?? 0); i++)
        {
            var file = storage.Files![i];
            var at = $"$.storage.files[{i}]";
            Node(at, file.Path, file.User, file.Group);
            CheckMode(at + ".mode", file.Mode, problems);
            if (file.Overwrite == true && file.Contents?.Source is null)
                problems.Add(Error(at + ".overwrite", "overwrite is true but contents has no source; Ignition cannot know what to write"));
            if (file.Contents is not null) CheckResource(at + ".contents", file.Contents, problems);
            for (var j = 0; j < (file.Append?.Count ?? 0); j++)
            {
                CheckResource($"{at}.append[{j}]", file.Append![j], problems);
                if (file.Append[j].Source is null) problems.Add(Error($"{at}.append[{j}].source", "an append entry needs a source"));
            }
        }
        for (var i = 0; i < (storage.Directories?.Count ?? 0); i++)
        {
            var directory = storage.Directories![i];
            var at = $"$.storage.directories[{i}]";
            Node(at, directory.Path, directory.User, directory.Group);
            CheckMode(at + ".mode", directory.Mode, problems);
        }
        for (var i = 0; i < (storage.Links?.Count ?? 0); i++)
        {
            var link = storage.Links![i];
            var at = $"$.storage.links[{i}]";
            Node(at, link.Path, link.User, link.Group);
            if (string.IsNullOrEmpty(link.Target))
                problems.Add(Error(at + ".target", "a link needs a target"));
            else if (link.Hard == true)
                CheckPath(at + ".target", link.Target, problems); // hard links resolve against the root, so the target must be absolute
        }
    }

    private static void CheckSystemd(Systemd? systemd, Storage? storage, List<IgnitionProblem> problems)
    {
        if (systemd?.Units is not { } units) return;
        // Ignition writes units and drop-ins itself; a file at the same path would be overwritten by one or the other.
        var filePaths = (storage?.Files ?? []).Select((f, i) => (f.Path, i)).GroupBy(f => f.Path).ToDictionary(g => g.Key, g => g.First().i, StringComparer.Ordinal);
        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < units.Count; i++)
        {
            var unit = units[i];
            var at = $"$.systemd.units[{i}]";
            if (!names.TryAdd(unit.Name, i))
                problems.Add(Error(at + ".name", $"duplicate unit '{unit.Name}' (also at $.systemd.units[{names[unit.Name]}])"));
            if (!UnitSuffixes.Contains(Path.GetExtension(unit.Name)))
                problems.Add(Error(at + ".name", $"unit name '{unit.Name}' lacks a systemd unit type suffix ({string.Join(" ", UnitSuffixes)})"));
            else if (unit.Name.Contains('/'))
                problems.Add(Error(at + ".name", $"unit name '{unit.Name}' must not contain '/'"));
            ConflictWithFile(at + ".name", $"{SystemdUnitDirectory}/{unit.Name}");

            IReadOnlyList<string>? sections = null;
            if (!string.IsNullOrEmpty(unit.Contents))
            {
                if (!SystemdUnitSyntax.TryParse(unit.Contents, out sections, out var error))
                    problems.Add(Error(at + ".contents", $"not a valid systemd unit: {error}"));
                else if (unit.Enabled == true && !sections.Contains("Install"))
                    problems.Add(Warning(at + ".contents", "unit is enabled but has no [Install] section, so enabling it does nothing"));
            }

            var dropins = new Dictionary<string, int>(StringComparer.Ordinal);
            for (var j = 0; j < (unit.Dropins?.Count ?? 0); j++)
            {
                var dropin = unit.Dropins![j];
                var dat = $"{at}.dropins[{j}]";
                if (!dropins.TryAdd(dropin.Name, j))
                    problems.Add(Error(dat + ".name", $"duplicate drop-in '{dropin.Name}' (also at {at}.dropins[{dropins[dropin.Name]}])"));
                if (Path.GetExtension(dropin.Name) != ".conf")
                    problems.Add(Error(dat + ".name", $"drop-in name '{dropin.Name}' must end in .conf; systemd ignores anything else"));
                if (!string.IsNullOrEmpty(dropin.Contents) && !SystemdUnitSyntax.TryParse(dropin.Contents, out _, out var error))
                    problems.Add(Error(dat + ".contents", $"not a valid systemd drop-in: {error}"));
                ConflictWithFile(dat + ".name", $"{SystemdUnitDirectory}/{unit.Name}.d/{dropin.Name}");
            }
        }

        void ConflictWithFile(string at, string path)
        {
            if (filePaths.TryGetValue(path, out var fileIndex))
                problems.Add(Error(at, $"$.storage.files[{fileIndex}] writes the same path {path}; declare the unit in one place only"));
        }
    }

    private static void CheckPasswd(Passwd? passwd, List<IgnitionProblem> problems)
    {
        if (passwd is null) return;
        var users = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < (passwd.Users?.Count ?? 0); i++)
        {
            var user = passwd.Users![i];
            var at = $"$.passwd.users[{i}]";
            if (string.IsNullOrEmpty(user.Name)) problems.Add(Error(at + ".name", "a user needs a name"));
            else if (!users.TryAdd(user.Name, i))
                problems.Add(Error(at + ".name", $"duplicate user '{user.Name}' (also at $.passwd.users[{users[user.Name]}])"));
            CheckUnique(at + ".sshAuthorizedKeys", user.SshAuthorizedKeys, "SSH key", problems);
            CheckUnique(at + ".groups", user.Groups, "group", problems);
            if (user.HomeDir is not null) CheckPath(at + ".homeDir", user.HomeDir, problems);
        }
        var groups = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < (passwd.Groups?.Count ?? 0); i++)
        {
            var group = passwd.Groups![i];
            var at = $"$.passwd.groups[{i}]";
            if (string.IsNullOrEmpty(group.Name)) problems.Add(Error(at + ".name", "a group needs a name"));
            else if (!groups.TryAdd(group.Name, i))
                problems.Add(Error(at + ".name", $"duplicate group '{group.Name}' (also at $.passwd.groups[{groups[group.Name]}])"));
        }
    }

    private static void CheckKernelArguments(KernelArguments? arguments, List<IgnitionProblem> problems)
    {
        if (arguments is null) return;
        CheckUnique("$.kernelArguments.shouldExist", arguments.ShouldExist, "kernel argument", problems);
        CheckUnique("$.kernelArguments.shouldNotExist", arguments.ShouldNotExist, "kernel argument", problems);
        var wanted = (arguments.ShouldExist ?? []).ToHashSet(StringComparer.Ordinal);
        for (var i = 0; i < (arguments.ShouldNotExist?.Count ?? 0); i++)
            if (wanted.Contains(arguments.ShouldNotExist![i]))
                problems.Add(Error($"$.kernelArguments.shouldNotExist[{i}]", $"kernel argument '{arguments.ShouldNotExist[i]}' is also in shouldExist"));
    }

    private static void CheckResource(string at, Resource resource, List<IgnitionProblem> problems)
    {
        if (resource.Compression is not (null or "" or "gzip"))
            problems.Add(Error(at + ".compression", $"unsupported compression '{resource.Compression}' (only gzip or none)"));

        var hash = resource.Verification?.Hash;
        byte[]? expectedDigest = null;
        if (hash is not null)
        {
            if (resource.Source is null)
                problems.Add(Error(at + ".verification.hash", "a hash without a source has nothing to verify"));
            if (!TryParseHash(hash, out expectedDigest, out var hashError))
                problems.Add(Error(at + ".verification.hash", hashError));
        }

        if (resource.HttpHeaders is { Count: > 0 } headers)
        {
            if (IgnitionSpec.SchemeOf(resource.Source) is not ("http" or "https"))
                problems.Add(Error(at + ".httpHeaders", "httpHeaders only apply to http and https sources"));
            var names = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < headers.Count; i++)
            {
                if (string.IsNullOrEmpty(headers[i].Name)) problems.Add(Error($"{at}.httpHeaders[{i}].name", "an HTTP header needs a name"));
                else if (!names.Add(headers[i].Name)) problems.Add(Error($"{at}.httpHeaders[{i}].name", $"duplicate HTTP header '{headers[i].Name}'"));
            }
        }

        if (resource.Source is not { } source) return;
        if (DataUrl.IsDataUrl(source))
        {
            if (!DataUrl.TryParse(source, out var raw, out var error))
            {
                problems.Add(Error(at + ".source", "invalid data: URL: " + error));
                return;
            }
            // Ignition would fail at boot on these; catching them here costs little because the data is inline.
            var contents = raw;
            if (resource.Compression == "gzip" && !DataUrl.TryGunzip(raw, out contents, out var gzipError))
                problems.Add(Error(at + ".source", gzipError));
            else if (expectedDigest is not null && !CryptographicOperations.FixedTimeEquals(Digest(hash!, contents), expectedDigest))
                problems.Add(Error(at + ".verification.hash", "the hash does not match the (decompressed) data: URL contents"));
            return;
        }
        var sourceScheme = IgnitionSpec.SchemeOf(source);
        if (sourceScheme is not ("http" or "https" or "tftp" or "s3" or "gs" or "arn"))
            problems.Add(Error(at + ".source", $"unsupported source '{Shorten(source)}' (use data:, http(s)://, tftp://, s3://, gs:// or arn:)"));
        else if (sourceScheme != "arn" && !Uri.TryCreate(source, UriKind.Absolute, out _))
            problems.Add(Error(at + ".source", $"'{Shorten(source)}' is not a valid URL"));
    }

    private static bool TryParseHash(string hash, out byte[]? digest, out string error)
    {
        digest = null;
        error = "";
        var dash = hash.IndexOf('-');
        var (function, hex) = dash < 0 ? (hash, "") : (hash[..dash], hash[(dash + 1)..]);
        var length = function switch { "sha512" => 128, "sha256" => 64, _ => 0 };
        if (length == 0)
        {
            error = $"hash '{Shorten(hash)}' must be sha512-<hex> or sha256-<hex>";
            return false;
        }
        if (hex.Length != length || !hex.All(c => c is >= '0' and <= '9' or >= 'a' and <= 'f'))
        {
            error = $"a {function} hash needs exactly {length} lowercase hex digits after '{function}-'";
            return false;
        }
        digest = Convert.FromHexString(hex);
        return true;
    }

    private static byte[] Digest(string hash, byte[] contents) =>
        hash.StartsWith("sha512-", StringComparison.Ordinal) ? SHA512.HashData(contents) : SHA256.HashData(contents);

    private static void CheckPath(string at, string path, List<IgnitionProblem> problems)
    {
        if (!path.StartsWith('/'))
            problems.Add(Error(at, $"path '{path}' must be absolute"));
        else if (path != "/" && (path.EndsWith('/') || path.Contains("//") || path.Split('/').Skip(1).Any(s => s is "." or "..")))
            problems.Add(Error(at, $"path '{path}' is not clean (no '//', '.' or '..' segments, no trailing '/')"));
    }

    private static void CheckMode(string at, int? mode, List<IgnitionProblem> problems)
    {
        if (mode is < 0 or > 0xFFF) // 07777
            problems.Add(Error(at, $"mode {mode} is outside 0 to 4095 (07777); note that JSON has no octal, so 0644 is written 420"));
    }

    private static void CheckOwner(string at, NodeUser? owner, List<IgnitionProblem> problems)
    {
        if (owner is { Id: not null, Name: not null })
            problems.Add(Error(at, "set either id or name, not both"));
    }

    private static void CheckUnique(string at, IReadOnlyList<string>? values, string what, List<IgnitionProblem> problems)
    {
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < (values?.Count ?? 0); i++)
            if (!seen.TryAdd(values![i], i))
                problems.Add(Error($"{at}[{i}]", $"duplicate {what} (same as {at}[{seen[values[i]]}])"));
    }

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..77] + "...";

    private static IgnitionProblem Error(string path, string message) => new(IgnitionSeverity.Error, path, message);
    private static IgnitionProblem Warning(string path, string message) => new(IgnitionSeverity.Warning, path, message);
}
