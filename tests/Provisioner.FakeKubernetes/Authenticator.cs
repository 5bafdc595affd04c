using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.Json.Nodes;

namespace Provisioner.FakeKubernetes;

/// <summary>
/// Who a request is from, as the API server's authenticators decide: bearer tokens of known users (its static
/// token file), and bootstrap tokens checked against their kube-system Secrets (its bootstrap-token authenticator).
/// Client certificates are not modelled: the fake speaks plain HTTP.
/// </summary>
internal sealed class Authenticator(ObjectStore store, TimeProvider clock)
{
    private readonly ConcurrentDictionary<string, Identity> _users = new(StringComparer.Ordinal);

    /// <summary>Requests carrying <c>Authorization: Bearer <paramref name="token"/></c> are made as this user.</summary>
    public void AddUser(string token, string userName, params string[] groups) =>
        _users[token] = new Identity(userName, [.. groups, "system:authenticated"]);

    /// <summary>The user of an <c>Authorization</c> header's bearer token; null (answered 401) for anything else.</summary>
    public Identity? Authenticate(string? authorization)
    {
        if (authorization is null || !authorization.StartsWith("Bearer ", StringComparison.Ordinal)) return null;
        var token = authorization["Bearer ".Length..].Trim();
        if (_users.TryGetValue(token, out var user)) return user;
        return BootstrapTokenIdentity(token);
    }

    /// <summary>A valid <c>bootstrap-token-&lt;id&gt;</c> Secret in kube-system, not expired, for authentication.</summary>
    private Identity? BootstrapTokenIdentity(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 2 || parts[0].Length != 6 || parts[1].Length != 16) return null;
        var extra = store.Read(Kinds.Secret.Plural, "kube-system", "bootstrap-token-" + parts[0], secret =>
        {
            if ((string?)secret["type"] != "bootstrap.kubernetes.io/token") return null;
            string? Data(string key) => secret["data"]?[key] is { } v ? Encoding.UTF8.GetString(Convert.FromBase64String((string)v!)) : null;
            if (Data("token-id") != parts[0] || Data("token-secret") != parts[1] || Data("usage-bootstrap-authentication") != "true") return null;
            if (Data("expiration") is { } expiration && DateTimeOffset.Parse(expiration, CultureInfo.InvariantCulture) <= clock.GetUtcNow()) return null;
            return Data("auth-extra-groups")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        });
        return extra is null ? null : new Identity("system:bootstrap:" + parts[0], ["system:bootstrappers", .. extra, "system:authenticated"]);
    }
}

/// <summary>An authenticated user as the API server sees it.</summary>
internal sealed record Identity(string Name, IReadOnlyList<string> Groups)
{
    public string Uid { get; } = Guid.NewGuid().ToString();
}

/// <summary>
/// RBAC's answers, as far as the tests need them: every user may do everything, except on the kinds made
/// forbidden, which are answered 403 with RBAC's message.
/// </summary>
internal sealed class Authorizer
{
    private readonly ConcurrentDictionary<string, byte> _forbidden = new(StringComparer.Ordinal);

    public void Forbid(string plural) => _forbidden[plural] = 0;

    public void Permit(string plural) => _forbidden.TryRemove(plural, out _);

    /// <summary>Null when <paramref name="user"/> may make the request; else the 403 Forbidden Status RBAC answers.</summary>
    public JsonObject? Refusal(ResourcePath path, string method, bool watch, Identity user) =>
        _forbidden.ContainsKey(path.Kind.Plural) ? Status.Forbidden(path, Verb(method, path, watch), user.Name) : null;

    /// <summary>The RBAC verb of a request, as authorization names it.</summary>
    private static string Verb(string method, ResourcePath path, bool watch) => method switch
    {
        "GET" when path.Name is null => watch ? "watch" : "list",
        "GET" => "get",
        "POST" => "create",
        "PUT" => "update",
        "DELETE" => "delete",
        _ => method.ToLowerInvariant(),
    };
}
