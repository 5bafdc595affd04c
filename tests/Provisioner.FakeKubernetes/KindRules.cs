using System.Text;
using System.Text.Json.Nodes;

namespace Provisioner.FakeKubernetes;

/// <summary>
/// What the API server's registry strategies do for the kinds the fake serves, beyond plain storage: Secret
/// normalization and the CertificateSigningRequest validations the approver can run into.
/// </summary>
internal static class KindRules
{
    /// <summary>As the API server does: stringData is merged into data (base64) and never stored.</summary>
    public static void NormalizeSecret(JsonObject secret)
    {
        if (secret["stringData"] is JsonObject stringData)
        {
            var data = secret["data"] as JsonObject ?? new JsonObject();
            foreach (var (key, value) in stringData)
                data[key] = Convert.ToBase64String(Encoding.UTF8.GetBytes((string?)value ?? ""));
            secret["data"] = data;
            secret.Remove("stringData");
        }
        secret["type"] ??= "Opaque";
    }

    public static (string Field, string Message)? CsrProblem(JsonObject csr)
    {
        if (csr["spec"] is not JsonObject spec) return ("spec", "Required value");
        if (spec["request"] is not JsonValue request || (string?)request is not { Length: > 0 } text) return ("spec.request", "Required value");
        try { Convert.FromBase64String(text); }
        catch (FormatException) { return ("spec.request", "Invalid value: not base64"); }
        if ((string?)spec["signerName"] is not { Length: > 0 }) return ("spec.signerName", "Required value");
        if (spec["usages"] is not JsonArray) return ("spec.usages", "Required value");
        return null;
    }

    public static (string Field, string Message)? ApprovalProblem(JsonObject current, JsonObject body)
    {
        var conditions = (body["status"]?["conditions"] as JsonArray ?? []).OfType<JsonObject>().ToList();
        var types = conditions.Select(c => (string?)c["type"]).ToList();
        if (types.Any(t => t is not ("Approved" or "Denied" or "Failed")))
            return ("status.conditions[].type", "Unsupported value: supported values: \"Approved\", \"Denied\", \"Failed\"");
        if (types.Contains("Approved") && types.Contains("Denied"))
            return ("status.conditions", "Invalid value: Approved and Denied conditions are mutually exclusive");
        if (types.Count != types.Distinct().Count())
            return ("status.conditions", "Invalid value: duplicate condition types");
        if (conditions.Any(c => (string?)c["status"] is not ("True" or "False" or "Unknown")))
            return ("status.conditions[].status", "Unsupported value: supported values: \"True\", \"False\", \"Unknown\"");
        var had = (current["status"]?["conditions"] as JsonArray ?? []).OfType<JsonObject>().Select(c => (string?)c["type"]);
        foreach (var kept in new[] { "Approved", "Denied" })
            if (had.Contains(kept) && !types.Contains(kept))
                return ("status.conditions", $"Forbidden: updates may not remove a condition of type \"{kept}\"");
        return null;
    }
}
