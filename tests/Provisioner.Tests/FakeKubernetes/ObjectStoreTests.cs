using System.Text;
using System.Text.Json.Nodes;
using Provisioner.FakeKubernetes;

namespace Provisioner.Tests.FakeKubernetes;

/// <summary>The fake API's store alone: resourceVersions, conflicts and the Status errors a real API server writes.</summary>
public sealed class ObjectStoreTests
{
    private readonly ObjectStore _store = new(historyLimit: 100, TimeProvider.System);
    private static readonly Identity Kubelet = new("system:node:worker-0", ["system:nodes", "system:authenticated"]);

    private static JsonObject Csr(string name) => new()
    {
        ["metadata"] = new JsonObject { ["name"] = name },
        ["spec"] = new JsonObject
        {
            ["request"] = Convert.ToBase64String(Encoding.ASCII.GetBytes("-----BEGIN CERTIFICATE REQUEST-----\n")),
            ["signerName"] = "kubernetes.io/kube-apiserver-client-kubelet",
            ["usages"] = new JsonArray("digital signature", "client auth"),
        },
    };

    private static ResourcePath Approval(string name) => new(Kinds.Csr, "", name, "approval");

    private static JsonObject Parse(Answer answer) => JsonNode.Parse(answer.Json!)!.AsObject();

    private static JsonObject Approve(JsonObject csr)
    {
        var copy = csr.DeepClone().AsObject();
        copy["status"] = new JsonObject { ["conditions"] = new JsonArray(new JsonObject { ["type"] = "Approved", ["status"] = "True" }) };
        return copy;
    }

    [Fact]
    public void Update_with_a_stale_resourceVersion_is_a_409_Conflict_with_the_API_servers_message()
    {
        var created = Parse(_store.Create(Kinds.Csr, "", Csr("csr-8x2kq"), Kubelet));
        _store.WriteAsAnotherClient(Kinds.Csr, "", "csr-8x2kq");

        var answer = _store.Update(Approval("csr-8x2kq"), Approve(created));

        Assert.Equal(409, answer.Status);
        Assert.Equal("Conflict", (string?)answer.Body!["reason"]);
        Assert.Equal(
            "Operation cannot be fulfilled on certificatesigningrequests.certificates.k8s.io \"csr-8x2kq\": the object has been modified; please apply your changes to the latest version and try again",
            (string?)answer.Body["message"]);
        Assert.Empty(_store.ApprovalWrites);
    }

    [Fact]
    public void Update_with_the_current_resourceVersion_succeeds_and_gets_a_newer_one()
    {
        var created = Parse(_store.Create(Kinds.Csr, "", Csr("c"), Kubelet));

        var answer = _store.Update(Approval("c"), Approve(created));

        Assert.Equal(200, answer.Status);
        var approved = Parse(answer);
        Assert.True(long.Parse((string)approved["metadata"]!["resourceVersion"]!) > long.Parse((string)created["metadata"]!["resourceVersion"]!));
        Assert.Equal("Approved", (string?)approved["status"]!["conditions"]![0]!["type"]);
        Assert.Equal(["c"], _store.ApprovalWrites.Select(w => w.CsrName));
    }

    [Fact]
    public void Update_without_a_resourceVersion_is_unconditional()
    {
        _store.Create(Kinds.Secret, "kube-system", new JsonObject { ["metadata"] = new JsonObject { ["name"] = "s" } }, Kubelet);
        _store.WriteAsAnotherClient(Kinds.Secret, "kube-system", "s");

        var answer = _store.Update(new ResourcePath(Kinds.Secret, "kube-system", "s", null),
            new JsonObject { ["metadata"] = new JsonObject { ["name"] = "s" }, ["stringData"] = new JsonObject { ["k"] = "v" } });

        Assert.Equal(200, answer.Status);
        Assert.Equal(Convert.ToBase64String("v"u8.ToArray()), (string?)Parse(answer)["data"]!["k"]);
    }

    [Fact]
    public void Create_of_a_taken_name_is_a_409_AlreadyExists()
    {
        _store.Create(Kinds.Csr, "", Csr("dup"), Kubelet);

        var answer = _store.Create(Kinds.Csr, "", Csr("dup"), Kubelet);

        Assert.Equal(409, answer.Status);
        Assert.Equal("AlreadyExists", (string?)answer.Body!["reason"]);
        Assert.Equal("certificatesigningrequests.certificates.k8s.io \"dup\" already exists", (string?)answer.Body["message"]);
    }

    [Fact]
    public void Created_csr_names_the_authenticated_requester_whatever_the_client_sent()
    {
        var csr = Csr("c");
        csr["spec"]!["username"] = "system:node:someone-else";

        var created = Parse(_store.Create(Kinds.Csr, "", csr, Kubelet));

        Assert.Equal("system:node:worker-0", (string?)created["spec"]!["username"]);
    }

    [Fact]
    public void Every_write_advances_one_cluster_wide_resourceVersion_and_is_published_in_order()
    {
        var published = new List<(long, string)>();
        _store.Changed += e => published.Add((e.ResourceVersion, e.Type));
        var before = _store.ResourceVersion;

        _store.Create(Kinds.Csr, "", Csr("a"), Kubelet);
        _store.Create(Kinds.Secret, "kube-system", new JsonObject { ["metadata"] = new JsonObject { ["name"] = "s" } }, Kubelet);
        var deleted = _store.Delete(Kinds.Csr, "", "a");

        Assert.Equal(200, deleted.Status);
        Assert.Equal([(before + 1, "ADDED"), (before + 2, "ADDED"), (before + 3, "DELETED")], published);
        Assert.Equal(before + 3, _store.ResourceVersion);
    }

    [Fact]
    public void Delete_of_a_missing_object_is_a_404_NotFound()
    {
        var answer = _store.Delete(Kinds.Secret, "kube-system", "bootstrap-token-zzzzzz");

        Assert.Equal(404, answer.Status);
        Assert.Equal("secrets \"bootstrap-token-zzzzzz\" not found", (string?)answer.Body!["message"]);
    }
}
