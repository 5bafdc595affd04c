using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Provisioner.WebConsole;
using Provisioner.Primitives;

namespace Provisioner.Cli;

/// <summary>The CLI's side of a running server's console API: one snapshot, or the SSE change feed.</summary>
internal sealed class ConsoleClient(HttpClient http) : IDisposable
{
    public const string DefaultServer = "http://127.0.0.1:8080";
    private static readonly TimeSpan Reconnect = TimeSpan.FromSeconds(2);

    public Uri Server => http.BaseAddress!;

    /// <param name="tokenFile">The operator token (<c>&lt;cluster-dir&gt;/auth/operator.token</c>), needed when the server is not on loopback.</param>
    public static ConsoleClient For(string server, string? tokenFile = null)
    {
        if (!Uri.TryCreate(server, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            throw new SettingsException($"--server: '{server}' is not an http(s) URL");
        // No overall timeout: the event stream stays open; single requests get their own below.
        var http = new HttpClient { BaseAddress = uri, Timeout = Timeout.InfiniteTimeSpan };
        if (tokenFile is not null)
        {
            if (!File.Exists(tokenFile)) throw new SettingsException($"--token-file: '{tokenFile}' does not exist");
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(tokenFile).Trim());
        }
        return new ConsoleClient(http);
    }

    /// <summary>Asks the server to provision the machine afresh on its next boot; returns the server's answer.</summary>
    public async Task<JsonDocument> ReprovisionAsync(string machine, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        var path = $"/api/v1/machines/{Uri.EscapeDataString(machine)}/reprovision";
        using var response = await http.PostAsync(path, new StringContent("{}", Encoding.UTF8, "application/json"), timeout.Token);
        var body = await response.Content.ReadAsStringAsync(timeout.Token);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"{new Uri(Server, path)} answered {(int)response.StatusCode}: {body.Trim()}");
        return JsonDocument.Parse(body);
    }

    public async Task<ConsoleSnapshot> SnapshotAsync(CancellationToken cancellationToken) =>
        Parse(await GetStringAsync("/api/v1/console", cancellationToken));

    public async Task<JsonDocument> MachinesAsync(CancellationToken cancellationToken) =>
        JsonDocument.Parse(await GetStringAsync("/api/v1/machines", cancellationToken));

    private async Task<string> GetStringAsync(string path, CancellationToken cancellationToken)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(TimeSpan.FromSeconds(30));
        using var response = await http.GetAsync(path, timeout.Token);
        var body = await response.Content.ReadAsStringAsync(timeout.Token);
        if (!response.IsSuccessStatusCode)
            throw new HttpRequestException($"{new Uri(Server, path)} answered {(int)response.StatusCode}: {body.Trim()}");
        return body;
    }

    /// <summary>
    /// Follows <c>GET /api/v1/events</c> until cancelled, handing each snapshot to <paramref name="onSnapshot"/>; a
    /// broken or refused connection is reported to <paramref name="onError"/> and retried every two seconds (a
    /// restarting server is not a reason to stop watching).
    /// </summary>
    public async Task WatchAsync(Func<ConsoleSnapshot, Task> onSnapshot, Action<string> onError, CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/events");
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
                using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                if (!response.IsSuccessStatusCode)
                    throw new HttpRequestException($"{new Uri(Server, "/api/v1/events")} answered {(int)response.StatusCode}");
                await using var stream = await response.Content.ReadAsStreamAsync(cancellationToken);
                using var reader = new StreamReader(stream, Encoding.UTF8);
                var data = new StringBuilder();
                while (await reader.ReadLineAsync(cancellationToken) is { } line)
                {
                    if (line.Length == 0)
                    {
                        if (data.Length > 0) await onSnapshot(Parse(data.ToString()));
                        data.Clear();
                    }
                    else if (line.StartsWith("data:", StringComparison.Ordinal))
                        data.Append(line.AsSpan(line.Length > 5 && line[5] == ' ' ? 6 : 5));
                    // "event:", "retry:" and ": keep-alive" comments need nothing.
                }
                onError("the server closed the event stream");
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested) { return; }
            catch (Exception e) when (e is HttpRequestException or IOException or JsonException)
            {
                onError(e.Message);
            }
            try { await Task.Delay(Reconnect, cancellationToken); }
            catch (OperationCanceledException) { return; }
        }
    }

    private static ConsoleSnapshot Parse(string json) =>
        JsonSerializer.Deserialize<ConsoleSnapshot>(json, Board.Json) ?? throw new JsonException("empty console snapshot");

    public void Dispose() => http.Dispose();
}
