namespace Provisioner.Primitives;

/// <summary>A switch's text form, as the environment and provisioner.yaml write it (flags give true/false).</summary>
internal static class SwitchText
{
    /// <summary>true/yes/1 or false/no/0 (any case); absent is off. A bad value throws, naming <paramref name="flag"/>.</summary>
    public static bool Parse(string flag, string? text) => text?.Trim().ToLowerInvariant() switch
    {
        null or "false" or "0" or "no" => false,
        "true" or "1" or "yes" => true,
        _ => throw new SettingsException($"{flag}: '{text}' is not true or false"),
    };
}
