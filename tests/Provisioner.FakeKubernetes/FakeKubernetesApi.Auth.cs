using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace Provisioner.FakeKubernetes;

/// <summary>Authentication: bearer tokens of known users, and bootstrap tokens checked against their kube-system Secrets.</summary>
public sealed partial class FakeKubernetesApi
{
    private readonly ConcurrentDictionary<string, Identity> _users = new(StringComparer.Ordinal);

    // ---------------------------------------------------------------- identities

    /// <summary>Requests carrying <c>Authorization: Bearer <paramref name="token"/></c> are made as this user.</summary>
    public void AddUser(string token, string userName, params string[] groups) =>
        _users[token] = new Identity(userName, [.. groups, "system:authenticated"]);

    /// <summary>A kubeconfig (YAML) that reaches this fake over HTTP as the user of <paramref name="token"/>.</summary>
    public string Kubeconfig(string token) => $"""
        apiVersion: v1
        kind: Config
        clusters:
        - name: fake
          cluster:
            server: {BaseAddress.GetLeftPart(UriPartial.Authority)}
        users:
        - name: fake-user
          user:
            token: {token}
        contexts:
        - name: fake
          context:
            cluster: fake
            user: fake-user
        current-context: fake
        """;


    private Identity? Authenticate(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal)) return null;
        var token = header["Bearer ".Length..].Trim();
        if (_users.TryGetValue(token, out var user)) return user;
        return BootstrapTokenIdentity(token);
    }

    /// <summary>The API server's bootstrap-token authenticator: a valid <c>bootstrap-token-&lt;id&gt;</c> Secret in kube-system.</summary>
    private Identity? BootstrapTokenIdentity(string token)
    {
        var parts = token.Split('.');
        if (parts.Length != 2 || parts[0].Length != 6 || parts[1].Length != 16) return null;
        string[] extra;
        // Read under the lock: stored JsonObjects are shared and only ever touched there (a few small decodes).
        lock (_gate)
        {
            var secret = Find("secrets", "kube-system", "bootstrap-token-" + parts[0])?.Object;
            if (secret is null || (string?)secret["type"] != "bootstrap.kubernetes.io/token") return null;
            string? Data(string key) => secret["data"]?[key] is { } v ? Encoding.UTF8.GetString(Convert.FromBase64String((string)v!)) : null;
            if (Data("token-id") != parts[0] || Data("token-secret") != parts[1] || Data("usage-bootstrap-authentication") != "true") return null;
            if (Data("expiration") is { } expiration && DateTimeOffset.Parse(expiration, CultureInfo.InvariantCulture) <= DateTimeOffset.UtcNow) return null;
            extra = Data("auth-extra-groups")?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        }
        return new Identity("system:bootstrap:" + parts[0], ["system:bootstrappers", .. extra, "system:authenticated"]);
    }
}
