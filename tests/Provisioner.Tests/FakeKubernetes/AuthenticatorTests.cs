using System.Text.Json.Nodes;
using Microsoft.Extensions.Time.Testing;
using Provisioner.FakeKubernetes;

namespace Provisioner.Tests.FakeKubernetes;

/// <summary>The fake API's authenticator and authorizer alone: who a request is from, and RBAC's 403.</summary>
public sealed class AuthenticatorTests
{
    private static readonly Identity Admin = new("kubernetes-admin", ["system:masters", "system:authenticated"]);
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 6, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly ObjectStore _store;
    private readonly Authenticator _authenticator;

    public AuthenticatorTests()
    {
        _store = new ObjectStore(historyLimit: 100, _clock);
        _authenticator = new Authenticator(_store, _clock);
    }

    private void AddBootstrapSecret(string id, string secret, DateTimeOffset? expiration = null, bool forAuthentication = true)
    {
        var data = new JsonObject
        {
            ["token-id"] = id, ["token-secret"] = secret, ["auth-extra-groups"] = "system:bootstrappers:provisioner",
        };
        if (forAuthentication) data["usage-bootstrap-authentication"] = "true";
        if (expiration is { } e) data["expiration"] = e.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal(201, _store.Create(Kinds.Secret, "kube-system", new JsonObject
        {
            ["metadata"] = new JsonObject { ["name"] = "bootstrap-token-" + id },
            ["type"] = "bootstrap.kubernetes.io/token",
            ["stringData"] = data,
        }, Admin).Status);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("Basic YWRtaW46YWRtaW4=")]
    [InlineData("Bearer unknown-token")]
    [InlineData("Bearer abcdef.0123456789abcdef")]
    public void Request_without_a_known_bearer_token_is_unauthenticated(string? authorization)
    {
        Assert.Null(_authenticator.Authenticate(authorization));
    }

    [Fact]
    public void Known_token_is_its_user_with_the_authenticated_group()
    {
        _authenticator.AddUser("t", "system:node:worker-0", "system:nodes");

        var user = _authenticator.Authenticate("Bearer t");

        Assert.Equal("system:node:worker-0", user!.Name);
        Assert.Equal(["system:nodes", "system:authenticated"], user.Groups);
    }

    [Fact]
    public void Bootstrap_token_is_the_bootstrap_user_with_its_extra_groups()
    {
        AddBootstrapSecret("abcdef", "0123456789abcdef");

        var user = _authenticator.Authenticate("Bearer abcdef.0123456789abcdef");

        Assert.Equal("system:bootstrap:abcdef", user!.Name);
        Assert.Equal(["system:bootstrappers", "system:bootstrappers:provisioner", "system:authenticated"], user.Groups);
    }

    [Fact]
    public void Bootstrap_token_with_the_wrong_secret_is_unauthenticated()
    {
        AddBootstrapSecret("abcdef", "0123456789abcdef");

        Assert.Null(_authenticator.Authenticate("Bearer abcdef.fedcba9876543210"));
    }

    [Fact]
    public void Bootstrap_token_not_marked_for_authentication_is_unauthenticated()
    {
        AddBootstrapSecret("abcdef", "0123456789abcdef", forAuthentication: false);

        Assert.Null(_authenticator.Authenticate("Bearer abcdef.0123456789abcdef"));
    }

    [Fact]
    public void Bootstrap_token_stops_authenticating_when_it_expires()
    {
        AddBootstrapSecret("abcdef", "0123456789abcdef", expiration: _clock.GetUtcNow().AddMinutes(10));
        Assert.NotNull(_authenticator.Authenticate("Bearer abcdef.0123456789abcdef"));

        _clock.Advance(TimeSpan.FromMinutes(10));

        Assert.Null(_authenticator.Authenticate("Bearer abcdef.0123456789abcdef"));
    }

    [Fact]
    public void Forbidden_kind_gets_RBACs_403_naming_user_verb_resource_and_scope()
    {
        var authorizer = new Authorizer();
        var user = new Identity("system:bootstrap:abcdef", ["system:bootstrappers", "system:authenticated"]);
        var secrets = new ResourcePath(Kinds.Secret, "kube-system", null, null);
        Assert.Null(authorizer.Refusal(secrets, "GET", watch: true, user));

        authorizer.Forbid(Kinds.Secret.Plural);
        var refusal = authorizer.Refusal(secrets, "GET", watch: true, user);

        Assert.Equal(403, (int)refusal!["code"]!);
        Assert.Equal("secrets is forbidden: User \"system:bootstrap:abcdef\" cannot watch resource \"secrets\" in API group \"\" in the namespace \"kube-system\"",
            (string?)refusal["message"]);
        authorizer.Permit(Kinds.Secret.Plural);
        Assert.Null(authorizer.Refusal(secrets, "GET", watch: true, user));
    }
}
