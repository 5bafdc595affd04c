using System.Buffers;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace Provisioner.FakeKubernetes;

/// <summary>One resource type the fake serves: where it lives in the URL space and how it names itself.</summary>
internal sealed record KindInfo(string Group, string Version, string Plural, string Kind, bool Namespaced)
{
    public string ApiVersion => Group.Length == 0 ? Version : $"{Group}/{Version}";

    /// <summary>"certificatesigningrequests.certificates.k8s.io", or just "secrets" for the core group, as Status messages spell it.</summary>
    public string Qualified => Group.Length == 0 ? Plural : $"{Plural}.{Group}";
}

internal static class Kinds
{
    public static readonly KindInfo Csr = new("certificates.k8s.io", "v1", "certificatesigningrequests", "CertificateSigningRequest", false);
    public static readonly KindInfo Node = new("", "v1", "nodes", "Node", false);
    public static readonly KindInfo Secret = new("", "v1", "secrets", "Secret", true);
    public static readonly KindInfo Event = new("", "v1", "events", "Event", true);
    public static readonly KindInfo Lease = new("coordination.k8s.io", "v1", "leases", "Lease", true);

    public static readonly IReadOnlyDictionary<string, KindInfo> ByPlural =
        new[] { Csr, Node, Secret, Event, Lease }.ToDictionary(k => k.Plural);
}

/// <summary><c>/api/v1[/namespaces/NS]/PLURAL[/NAME[/SUB]]</c> or <c>/apis/GROUP/VERSION/…</c>, parsed.</summary>
internal sealed record ResourcePath(KindInfo Kind, string Namespace, string? Name, string? Subresource)
{
    public static ResourcePath? Parse(string path)
    {
        var s = path.Trim('/').Split('/');
        int i;
        string group, version;
        if (s.Length >= 2 && s[0] == "api") { group = ""; version = s[1]; i = 2; }
        else if (s.Length >= 3 && s[0] == "apis") { group = s[1]; version = s[2]; i = 3; }
        else return null;

        var ns = "";
        if (i + 1 < s.Length && s[i] == "namespaces" && i + 2 < s.Length) { ns = s[i + 1]; i += 2; }
        if (i >= s.Length || !Kinds.ByPlural.TryGetValue(s[i], out var kind)) return null;
        if (kind.Group != group || kind.Version != version || kind.Namespaced != (ns.Length > 0)) return null;
        var name = i + 1 < s.Length ? s[i + 1] : null;
        var sub = i + 2 < s.Length ? s[i + 2] : null;
        if (i + 3 < s.Length) return null;
        return new ResourcePath(kind, ns, name, sub);
    }
}

/// <summary>
/// meta/v1 Status bodies exactly as the API server writes them for errors (kind, apiVersion, empty
/// metadata, status Failure, message, reason, details, code).
/// </summary>
internal static class Status
{
    public static JsonObject Failure(int code, string reason, string message, JsonObject? details = null)
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = message,
            ["reason"] = reason,
        };
        if (details is not null) status["details"] = details;
        status["code"] = code;
        return status;
    }

    private static JsonObject Details(KindInfo kind, string name)
    {
        var details = new JsonObject { ["name"] = name };
        if (kind.Group.Length > 0) details["group"] = kind.Group;
        details["kind"] = kind.Plural;
        return details;
    }

    public static JsonObject NotFound(KindInfo kind, string name) =>
        Failure(404, "NotFound", $"{kind.Qualified} \"{name}\" not found", Details(kind, name));

    public static JsonObject AlreadyExists(KindInfo kind, string name) =>
        Failure(409, "AlreadyExists", $"{kind.Qualified} \"{name}\" already exists", Details(kind, name));

    public static JsonObject Conflict(KindInfo kind, string name) =>
        Failure(409, "Conflict",
            $"Operation cannot be fulfilled on {kind.Qualified} \"{name}\": the object has been modified; please apply your changes to the latest version and try again",
            Details(kind, name));

    public static JsonObject Invalid(KindInfo kind, string name, string field, string message)
    {
        var details = Details(kind, name);
        details["kind"] = kind.Kind;
        details["causes"] = new JsonArray(new JsonObject { ["reason"] = "FieldValueInvalid", ["message"] = message, ["field"] = field });
        return Failure(422, "Invalid", $"{kind.Kind} \"{name}\" is invalid: {field}: {message}", details);
    }

    /// <summary>RBAC's refusal: <c>nodes is forbidden: User "u" cannot list resource "nodes" in API group "" at the cluster scope</c>.</summary>
    internal static JsonObject Forbidden(ResourcePath path, string verb, string user)
    {
        var resource = path.Subresource is null ? path.Kind.Plural : $"{path.Kind.Plural}/{path.Subresource}";
        var scope = path.Kind.Namespaced ? $"in the namespace \"{path.Namespace}\"" : "at the cluster scope";
        var details = new JsonObject();
        if (path.Name is not null) details["name"] = path.Name;
        if (path.Kind.Group.Length > 0) details["group"] = path.Kind.Group;
        details["kind"] = path.Kind.Plural;
        return Failure(403, "Forbidden",
            $"{path.Kind.Qualified}{(path.Name is null ? "" : $" \"{path.Name}\"")} is forbidden: User \"{user}\" cannot {verb} resource \"{resource}\" in API group \"{path.Kind.Group}\" {scope}",
            details);
    }

    /// <summary>What a watch from a compacted resourceVersion gets, as the object of an ERROR event.</summary>
    public static JsonObject Gone(string requested, long oldest) =>
        Failure(410, "Expired", $"too old resource version: {requested} ({oldest})");

    public static JsonObject Success(KindInfo kind, string name, string? uid)
    {
        var details = Details(kind, name);
        if (uid is not null) details["uid"] = uid;
        return new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Success",
            ["details"] = details,
        };
    }
}

/// <summary>Equality-based label selectors: <c>a=b</c>, <c>a==b</c>, <c>a!=b</c>, <c>a</c>, <c>!a</c>, comma-separated.</summary>
internal sealed record LabelSelector(IReadOnlyList<Func<JsonObject?, bool>> Requirements)
{
    public static LabelSelector Parse(string? text)
    {
        var requirements = new List<Func<JsonObject?, bool>>();
        foreach (var term in (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (term.Split("!=") is [var nk, var nv]) requirements.Add(l => (string?)l?[nk.Trim()] != nv.Trim());
            else if (term.Split("==") is [var ek, var ev]) requirements.Add(l => (string?)l?[ek.Trim()] == ev.Trim());
            else if (term.Split('=') is [var k, var v]) requirements.Add(l => (string?)l?[k.Trim()] == v.Trim());
            else if (term.StartsWith('!')) requirements.Add(l => l?[term[1..]] is null);
            else requirements.Add(l => l?.ContainsKey(term) == true);
        }
        return new LabelSelector(requirements);
    }

    public bool Matches(JsonObject obj) => Requirements.All(r => r(obj["metadata"]?["labels"] as JsonObject));
}

/// <summary>JSON as the API server frames it: objects serialized once, watch event lines, resourceVersions as strings.</summary>
internal static class WireJson
{
    public static byte[] Serialize(JsonObject obj)
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var writer = new Utf8JsonWriter(buffer)) obj.WriteTo(writer);
        return buffer.WrittenSpan.ToArray();
    }

    /// <summary><c>{"type":"…","object":…}</c> and a newline, as the API server frames watch events.</summary>
    public static byte[] EventLine(string type, byte[] objectJson)
    {
        var line = new ArrayBufferWriter<byte>(objectJson.Length + 40);
        using (var writer = new Utf8JsonWriter(line))
        {
            writer.WriteStartObject();
            writer.WriteString("type", type);
            writer.WritePropertyName("object");
            writer.WriteRawValue(objectJson, skipInputValidation: true);
            writer.WriteEndObject();
        }
        line.Write("\n"u8);
        return line.WrittenSpan.ToArray();
    }

    public static string Rv(long rv) => rv.ToString(CultureInfo.InvariantCulture);

    public static string Timestamp(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture);
}

/// <summary>A verb's answer: a stored object's cached JSON, or a body built for this answer (a Status).</summary>
internal readonly record struct Answer(int Status, byte[]? Json = null, JsonObject? Body = null)
{
    public static Answer Error(JsonObject status) => new((int)status["code"]!, Body: status);
}

/// <summary>Boolean query parameters (<c>watch</c>, <c>allowWatchBookmarks</c>) as the API server reads them.</summary>
internal static class QueryFlag
{
    public static bool IsTrue(string? value) => value is "1" or "true";
}
