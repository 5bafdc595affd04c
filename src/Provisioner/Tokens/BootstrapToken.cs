using System.Security.Cryptography;
using System.Text.RegularExpressions;

namespace Provisioner.Tokens;

/// <summary>
/// A kubeadm-format bootstrap token (<c>[a-z0-9]{6}.[a-z0-9]{16}</c>) issued to exactly one machine.
/// The API server authenticates it as user <c>system:bootstrap:&lt;id&gt;</c>; the approver maps that id
/// back to the machine, so a token used for another node name is a forgery.
/// </summary>
internal sealed partial record BootstrapToken(string Id, string Secret, string MachineName, DateTimeOffset IssuedAt, DateTimeOffset Expires)
{
    /// <summary>The group every Provisioner-issued token authenticates in, besides <c>system:bootstrappers</c>.</summary>
    public const string ExtraGroup = "system:bootstrappers:provisioner";

    public const string MachineLabel = "provisioner.dev/machine";

    private const string Alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";

    /// <summary><c>id.secret</c>, what a kubelet's bootstrap kubeconfig carries.</summary>
    public string Value => $"{Id}.{Secret}";

    /// <summary>The user name the API server gives requests made with this token.</summary>
    public string UserName => UserPrefix + Id;

    /// <summary>The <c>kube-system</c> Secret that makes the API server accept the token.</summary>
    public string SecretName => SecretPrefix + Id;

    public const string UserPrefix = "system:bootstrap:";
    public const string SecretPrefix = "bootstrap-token-";

    public bool IsExpiredAt(DateTimeOffset now) => now >= Expires;

    public static BootstrapToken Mint(string machineName, DateTimeOffset now, TimeSpan lifetime) =>
        new(RandomNumberGenerator.GetString(Alphabet, 6), RandomNumberGenerator.GetString(Alphabet, 16), machineName, now, now + lifetime);

    public static bool IsValidId(string id) => IdPattern().IsMatch(id);

    public static bool IsValidValue(string value) => ValuePattern().IsMatch(value);

    [GeneratedRegex("^[a-z0-9]{6}$")]
    private static partial Regex IdPattern();

    [GeneratedRegex("^[a-z0-9]{6}\\.[a-z0-9]{16}$")]
    private static partial Regex ValuePattern();

    /// <summary>
    /// The Secret's string data in the format the API server's bootstrap authenticator reads
    /// (type <c>bootstrap.kubernetes.io/token</c>).
    /// </summary>
    public IReadOnlyDictionary<string, string> SecretData() => new SortedDictionary<string, string>(StringComparer.Ordinal)
    {
        ["token-id"] = Id,
        ["token-secret"] = Secret,
        ["expiration"] = Expires.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'"),
        ["usage-bootstrap-authentication"] = "true",
        ["usage-bootstrap-signing"] = "true",
        ["auth-extra-groups"] = ExtraGroup,
        ["description"] = $"Provisioner bootstrap token for machine {MachineName}",
    };

    public const string SecretType = "bootstrap.kubernetes.io/token";
}
