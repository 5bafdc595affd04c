namespace Provisioner.Ignition;

/// <summary>
/// The systemd unit-file grammar Ignition checks unit and drop-in contents against (go-systemd's
/// unit.Deserialize): <c>[Section]</c> headers, <c>Key=Value</c> lines, <c>#</c>/<c>;</c> comments and
/// lines continued with a trailing backslash.
/// </summary>
internal static class SystemdUnitSyntax
{
    /// <summary>Parses <paramref name="contents"/>; on success <paramref name="sections"/> lists the section names in order.</summary>
    public static bool TryParse(string contents, out IReadOnlyList<string> sections, out string error)
    {
        var found = new List<string>();
        sections = found;
        error = "";
        var lines = contents.Replace("\r\n", "\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var lineNumber = i + 1;
            var line = lines[i].Trim();
            if (line.Length == 0 || line[0] is '#' or ';') continue;

            // Join continuation lines first, so a continued value is judged as one option.
            while (line.EndsWith('\\') && i + 1 < lines.Length)
                line = line[..^1] + " " + lines[++i].Trim();

            if (line[0] == '[')
            {
                var name = line.Length > 2 && line[^1] == ']' ? line[1..^1] : "";
                if (name.Length == 0 || name.IndexOfAny(['[', ']']) >= 0)
                    return Fail(lineNumber, $"malformed section header '{line}'", out error);
                found.Add(name);
                continue;
            }

            var equals = line.IndexOf('=');
            if (equals < 0)
                return Fail(lineNumber, $"'{Shorten(line)}' is neither a [Section], a Key=Value option nor a comment", out error);
            var key = line[..equals].TrimEnd();
            if (key.Length == 0 || !key.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.'))
                return Fail(lineNumber, $"'{Shorten(key)}' is not a valid option name", out error);
            if (found.Count == 0)
                return Fail(lineNumber, $"option '{key}' comes before any [Section] header", out error);
        }
        return true;
    }

    private static string Shorten(string text) => text.Length <= 60 ? text : text[..57] + "...";

    private static bool Fail(int line, string message, out string error)
    {
        error = $"line {line}: {message}";
        return false;
    }
}
