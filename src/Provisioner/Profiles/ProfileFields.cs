using System.Collections.Immutable;
using System.Net;
using System.Text.RegularExpressions;
using YamlDotNet.RepresentationModel;

namespace Provisioner.Profiles;

/// <summary>Checks and readers for field kinds several sections share: DNS names, label keys and values, asset references.</summary>
internal static partial class ProfileFields
{
    /// <summary><c>installDisk</c> of a role or a machine: an absolute /dev path (<see cref="InstallDiskPath"/>), or null.</summary>
    internal static string? ReadInstallDisk(YamlNodeReader r)
    {
        var installDisk = r.String("installDisk");
        if (installDisk is null) return null;
        if (InstallDiskPath.Problem(installDisk) is not { } problem) return installDisk;
        r.FieldError("installDisk", problem);
        return null;
    }

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    internal static partial Regex DnsLabel();

    [GeneratedRegex(@"^([a-z0-9]([-a-z0-9]*[a-z0-9])?)(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    internal static partial Regex DnsName();

    [GeneratedRegex(@"^v\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?$")]
    internal static partial Regex KubernetesVersion();

    [GeneratedRegex(@"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")]
    internal static partial Regex LabelKey();

    internal static ImmutableDictionary<string, string> ReadLabels(YamlNodeReader r, string key)
    {
        var builder = ImmutableDictionary.CreateBuilder<string, string>(StringComparer.Ordinal);
        foreach (var (k, v, node) in r.StringMap(key))
        {
            if (!LabelKey().IsMatch(k) || k.Length > 316)
                r.Error(node, r.FieldPath(key) + "." + k, $"'{k}' is not a valid Kubernetes label key");
            else if (v.Length > 63 || (v.Length > 0 && !Regex.IsMatch(v, "^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")))
                r.Error(node, r.FieldPath(key) + "." + k, $"'{v}' is not a valid Kubernetes label value");
            else builder[k] = v;
        }
        return builder.ToImmutable();
    }

    internal static string? CheckDnsName(YamlNodeReader r, string key, bool required = false)
    {
        var value = r.String(key, required);
        if (value is not null && !DnsName().IsMatch(value))
        {
            r.FieldError(key, $"'{value}' is not a DNS name");
            return null;
        }
        return value;
    }

    internal static string? CheckDnsNameOrIp(YamlNodeReader r, string key)
    {
        var value = r.String(key);
        if (value is not null && !IPAddress.TryParse(value, out _) && !DnsName().IsMatch(value))
        {
            r.FieldError(key, $"'{value}' is neither a DNS name nor an IP address");
            return null;
        }
        return value;
    }

    internal static string? CheckAssetReference(YamlNodeReader r, string key, bool required)
    {
        var value = r.String(key, required);
        return value is null ? null : CheckAssetReference(r, key, value, r.Raw(key)!);
    }

    internal static string? CheckAssetReference(YamlNodeReader r, string key, string value, YamlNode node)
    {
        if (Uri.TryCreate(value, UriKind.Absolute, out var abs) && (abs.Scheme == "http" || abs.Scheme == "https"))
            return value;
        var segments = value.Split('/');
        if (value.Length == 0 || value.StartsWith('/') || value.Contains('\\') || segments.Any(s => s is "" or "." or ".."))
        {
            r.Error(node, r.FieldPath(key), $"'{value}' must be a clean path below the assets directory (no leading '/', no '..') or an http(s) URL");
            return null;
        }
        return value;
    }
}
