using System.Text;
using System.Text.Json;

namespace Provisioner.Tests.WebConsole;

/// <summary>A test's reader of <c>GET /api/v1/events</c>: snapshots as JSON, comments and fields as lines.</summary>
internal sealed class SseClient : IAsyncDisposable
{
    private readonly HttpResponseMessage _response;
    private readonly StreamReader _reader;

    private SseClient(HttpResponseMessage response, StreamReader reader) => (_response, _reader) = (response, reader);

    public static async Task<SseClient> OpenAsync(HttpClient http, CancellationToken ct)
    {
        var response = await http.SendAsync(new HttpRequestMessage(HttpMethod.Get, "/api/v1/events"), HttpCompletionOption.ResponseHeadersRead, ct);
        response.EnsureSuccessStatusCode();
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        return new SseClient(response, new StreamReader(await response.Content.ReadAsStreamAsync(ct), Encoding.UTF8));
    }

    public async Task<string> NextLineAsync(CancellationToken ct) =>
        await _reader.ReadLineAsync(ct) ?? throw new EndOfStreamException("the server closed the event stream");

    /// <summary>The next snapshot event's JSON.</summary>
    public async Task<JsonElement> NextSnapshotAsync(CancellationToken ct)
    {
        var data = new StringBuilder();
        while (true)
        {
            var line = await NextLineAsync(ct);
            if (line.StartsWith("data: ", StringComparison.Ordinal)) data.Append(line[6..]);
            else if (line.Length == 0 && data.Length > 0)
            {
                using var doc = JsonDocument.Parse(data.ToString());
                return doc.RootElement.Clone();
            }
        }
    }

    /// <summary>Reads snapshots until one satisfies <paramref name="condition"/>, within <paramref name="timeout"/>.</summary>
    public async Task<JsonElement> SnapshotWhereAsync(Func<JsonElement, bool> condition, TimeSpan timeout, CancellationToken ct)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        while (true)
        {
            var snapshot = await NextSnapshotAsync(cts.Token);
            if (condition(snapshot)) return snapshot;
        }
    }

    public static JsonElement Machine(JsonElement snapshot, string name) =>
        snapshot.GetProperty("machines").EnumerateArray().Single(m => m.GetProperty("name").GetString() == name);

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _response.Dispose();
        return ValueTask.CompletedTask;
    }
}
