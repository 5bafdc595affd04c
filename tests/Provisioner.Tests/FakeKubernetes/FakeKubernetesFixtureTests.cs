using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Provisioner.FakeKubernetes;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.FakeKubernetes;

/// <summary>
/// The fake answers with the same structure as the real API server: each test makes the fake produce one
/// response over plain HTTP and compares it, field path by field path, with a recorded response from
/// Fixtures/ (see its README for where they come from).
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class FakeKubernetesFixtureTests : IAsyncLifetime
{
    private const string Token = "fixture-token";
    private FakeKubernetesApi fake = null!;
    private HttpClient http = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public async ValueTask InitializeAsync()
    {
        fake = await FakeKubernetesApi.StartAsync(new FakeKubernetesOptions { BookmarkInterval = TimeSpan.FromMilliseconds(100) }, Ct);
        fake.AddUser(Token, "system:bootstrap:abcdef", "system:bootstrappers", "system:bootstrappers:provisioner");
        http = new HttpClient { BaseAddress = fake.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Token);
    }

    public async ValueTask DisposeAsync()
    {
        http.Dispose();
        await fake.DisposeAsync();
    }

    private static JsonNode Fixture(string name) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(RepoPaths.Root, "tests", "Provisioner.Tests", "FakeKubernetes", "Fixtures", name)))!;

    private const string CsrPath = "/apis/certificates.k8s.io/v1/certificatesigningrequests";

    private async Task<(HttpStatusCode, JsonNode)> SendAsync(HttpMethod method, string path, JsonNode? body = null)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null) request.Content = new StringContent(body.ToJsonString(), Encoding.UTF8, "application/json");
        using var response = await http.SendAsync(request, Ct);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!);
    }

    private async Task<JsonObject> CreateCsrAsync()
    {
        var (status, created) = await SendAsync(HttpMethod.Post, CsrPath, new JsonObject
        {
            ["apiVersion"] = "certificates.k8s.io/v1",
            ["kind"] = "CertificateSigningRequest",
            ["metadata"] = new JsonObject { ["generateName"] = "csr-" },
            ["spec"] = new JsonObject
            {
                ["request"] = Convert.ToBase64String(Encoding.ASCII.GetBytes("-----BEGIN CERTIFICATE REQUEST-----\n-----END CERTIFICATE REQUEST-----\n")),
                ["signerName"] = "kubernetes.io/kube-apiserver-client-kubelet",
                ["usages"] = new JsonArray("digital signature", "client auth"),
            },
        });
        Assert.Equal(HttpStatusCode.Created, status);
        return created.AsObject();
    }

    [Fact]
    public async Task Csr_list_has_the_recorded_structure()
    {
        await CreateCsrAsync();
        var (status, list) = await SendAsync(HttpMethod.Get, CsrPath);
        Assert.Equal(HttpStatusCode.OK, status);
        JsonShape.AssertSame(Fixture("csr-list.json"), list);
    }

    [Fact]
    public async Task Approval_answer_has_the_recorded_structure()
    {
        var csr = await CreateCsrAsync();
        csr["status"] = new JsonObject
        {
            ["conditions"] = new JsonArray(new JsonObject
            {
                ["type"] = "Approved", ["status"] = "True", ["reason"] = "ProvisionerApproved", ["message"] = "test",
                ["lastUpdateTime"] = "2025-06-01T12:00:01Z", ["lastTransitionTime"] = "2025-06-01T12:00:01Z",
            }),
        };
        var (status, approved) = await SendAsync(HttpMethod.Put, $"{CsrPath}/{csr["metadata"]!["name"]}/approval", csr);
        Assert.Equal(HttpStatusCode.OK, status);
        JsonShape.AssertSame(Fixture("csr-approved.json"), approved);
    }

    [Fact]
    public async Task Stale_update_gets_the_recorded_409_Conflict_status()
    {
        var csr = await CreateCsrAsync();
        csr["metadata"]!["resourceVersion"] = "1";
        csr["status"] = new JsonObject { ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Approved", ["status"] = "True" }) };
        var (status, body) = await SendAsync(HttpMethod.Put, $"{CsrPath}/{csr["metadata"]!["name"]}/approval", csr);

        Assert.Equal(HttpStatusCode.Conflict, status);
        var expected = Fixture("status-conflict.json");
        JsonShape.AssertSame(expected, body);
        Assert.Equal((string?)expected["reason"], (string?)body["reason"]);
        Assert.Equal((string?)expected["details"]!["kind"], (string?)body["details"]!["kind"]);
        Assert.Equal(((string)expected["message"]!).Replace("csr-8x2kq", (string)csr["metadata"]!["name"]!), (string?)body["message"]);
    }

    [Fact]
    public async Task Duplicate_secret_gets_the_recorded_409_AlreadyExists_status()
    {
        var secret = new JsonObject { ["metadata"] = new JsonObject { ["name"] = "bootstrap-token-abcdef" }, ["stringData"] = new JsonObject { ["token-id"] = "abcdef" } };
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Post, "/api/v1/namespaces/kube-system/secrets", secret)).Item1);
        var (status, body) = await SendAsync(HttpMethod.Post, "/api/v1/namespaces/kube-system/secrets", secret);

        Assert.Equal(HttpStatusCode.Conflict, status);
        JsonShape.AssertSame(Fixture("status-already-exists.json"), body);
        Assert.Equal(Fixture("status-already-exists.json").ToJsonString(), body.ToJsonString());
    }

    [Fact]
    public async Task Missing_secret_gets_the_recorded_404_NotFound_status()
    {
        var (status, body) = await SendAsync(HttpMethod.Get, "/api/v1/namespaces/kube-system/secrets/bootstrap-token-zzzzzz");
        Assert.Equal(HttpStatusCode.NotFound, status);
        Assert.Equal(Fixture("status-not-found.json").ToJsonString(), body.ToJsonString());
    }

    [Fact]
    public async Task Unknown_bearer_token_gets_the_recorded_401_Unauthorized_status()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, CsrPath);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", "abcdef.0123456789abcdef");
        using var response = await http.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal(Fixture("status-unauthorized.json").ToJsonString(), JsonNode.Parse(await response.Content.ReadAsStringAsync(Ct))!.ToJsonString());
    }

    [Fact]
    public async Task Forbidden_list_gets_the_recorded_403_Forbidden_status()
    {
        fake.Forbid(Kinds.Node.Plural);
        var (status, body) = await SendAsync(HttpMethod.Get, "/api/v1/nodes");
        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.Equal(Fixture("status-forbidden.json").ToJsonString(), body.ToJsonString());

        fake.Permit(Kinds.Node.Plural);
        Assert.Equal(HttpStatusCode.OK, (await SendAsync(HttpMethod.Get, "/api/v1/nodes")).Item1);
    }

    [Fact]
    public async Task Watch_from_a_compacted_resourceVersion_gets_the_recorded_410_ERROR_event()
    {
        var csr = await CreateCsrAsync();
        await CreateCsrAsync();
        fake.CompactHistory();
        var line = await FirstWatchLineAsync($"{CsrPath}?watch=1&resourceVersion={csr["metadata"]!["resourceVersion"]}", _ => true);

        var expected = Fixture("watch-gone.json");
        JsonShape.AssertSame(expected, line);
        Assert.Equal("ERROR", (string?)line["type"]);
        Assert.Equal(410, (int)line["object"]!["code"]!);
        Assert.Equal((string?)expected["object"]!["reason"], (string?)line["object"]!["reason"]);
        Assert.StartsWith("too old resource version: ", (string?)line["object"]!["message"]);
    }

    [Fact]
    public async Task Watch_with_bookmarks_sends_the_recorded_BOOKMARK_event()
    {
        var csr = await CreateCsrAsync();
        var line = await FirstWatchLineAsync($"{CsrPath}?watch=1&resourceVersion={csr["metadata"]!["resourceVersion"]}&allowWatchBookmarks=true",
            l => (string?)l["type"] == "BOOKMARK");
        JsonShape.AssertSame(Fixture("watch-bookmark.json"), line);
    }

    [Fact]
    public async Task Lease_has_the_recorded_structure()
    {
        var lease = Fixture("lease.json").AsObject();
        foreach (var field in new[] { "uid", "resourceVersion", "creationTimestamp", "namespace" }) lease["metadata"]!.AsObject().Remove(field);
        Assert.Equal(HttpStatusCode.Created, (await SendAsync(HttpMethod.Post, "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", lease)).Item1);

        var (status, body) = await SendAsync(HttpMethod.Get, "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/provisioner-approver");
        Assert.Equal(HttpStatusCode.OK, status);
        JsonShape.AssertSame(Fixture("lease.json"), body);
    }

    private async Task<JsonNode> FirstWatchLineAsync(string path, Func<JsonNode, bool> wanted)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(10));
        using var response = await http.GetAsync(path, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(timeout.Token));
        while (await reader.ReadLineAsync(timeout.Token) is { } text)
        {
            var line = JsonNode.Parse(text)!;
            if (wanted(line)) return line;
        }
        throw new InvalidOperationException("the watch ended without the wanted event");
    }
}
