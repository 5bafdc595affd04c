using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Http;
using Microsoft.Net.Http.Headers;
using Provisioner.Cluster;
using Provisioner.Primitives;

using Provisioner.Ignition;

namespace Provisioner.Boot;

/// <summary>Response bytes prepared ahead of requests, with their strong ETag (a hash of exactly these bytes).</summary>
internal sealed record PreparedBody(byte[] Bytes, string ETag)
{
    public static PreparedBody For(byte[] bytes) => new(bytes, ETags.Strong(bytes));
}

/// <summary>
/// One machine's rendered Ignition config for one base URL: rendered once, serialized once per spec version a
/// machine asks for, and negotiated once per distinct Accept header, so a request only looks these up.
/// </summary>
internal sealed class PreparedConfig
{
    // Ignition sends one Accept header per release; a few distinct ones are kept, anything beyond is negotiated per
    // request so that a client varying the header cannot grow the cache.
    private const int MaxNegotiations = 16;

    private readonly ConcurrentDictionary<Version, PreparedBody> _bodies = new();
    private readonly ConcurrentDictionary<string, IgnitionNegotiationResult> _negotiations = new(StringComparer.Ordinal);

    public PreparedConfig(IgnitionConfig config, string materialFingerprint, DateTimeOffset reusableUntil)
    {
        Config = config;
        MaterialFingerprint = materialFingerprint;
        ReusableUntil = reusableUntil;
    }

    private PreparedConfig(PreparedConfig other, DateTimeOffset reusableUntil)
    {
        (Config, MaterialFingerprint, ReusableUntil) = (other.Config, other.MaterialFingerprint, reusableUntil);
        (_bodies, _negotiations) = (other._bodies, other._negotiations);
    }

    public IgnitionConfig Config { get; }

    /// <summary>What the config was rendered from besides the catalog and base URL (see <see cref="Fingerprint"/>).</summary>
    public string MaterialFingerprint { get; }

    /// <summary>Until when serving this config mints no token; after that the request takes the minting path.</summary>
    public DateTimeOffset ReusableUntil { get; }

    /// <summary>The same rendered config and bodies with a new reuse limit (a token change that did not touch it).</summary>
    public PreparedConfig WithReusableUntil(DateTimeOffset until) => new(this, until);

    public IgnitionNegotiationResult Negotiate(string accept)
    {
        if (_negotiations.TryGetValue(accept, out var known)) return known;
        var result = IgnitionNegotiation.Choose(accept, Config);
        if (_negotiations.Count < MaxNegotiations) _negotiations.TryAdd(accept, result);
        return result;
    }

    /// <summary>The config serialized for <paramref name="version"/> (which negotiation said it can be expressed in).</summary>
    public PreparedBody Body(Version version) =>
        _bodies.GetOrAdd(version, static (v, config) => PreparedBody.For(IgnitionJson.SerializeToUtf8(config.WithVersion(v))), Config);

    /// <summary>
    /// A hash of everything in <paramref name="material"/> a template can see (kind, CA certificate, token, bootstrap
    /// kubeconfig, the role's files). Two materials with the same fingerprint render the same config for the same
    /// catalog, machine and base URL, so a token change that leaves a machine's material alone keeps its config.
    /// </summary>
    public static string Fingerprint(MachineMaterial material)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        void Add(string? text)
        {
            var bytes = Encoding.UTF8.GetBytes(text ?? "\0null");
            hash.AppendData(BitConverter.GetBytes(bytes.Length));
            hash.AppendData(bytes);
        }
        Add(material.Kind.ToString());
        Add(material.Assets.CaCertificate);
        Add(material.Token?.Value);
        Add(material.BootstrapKubeconfig);
        foreach (var file in material.Files)
        {
            Add(file.Path);
            Add(file.Mode.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Add(file.Content);
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }
}
