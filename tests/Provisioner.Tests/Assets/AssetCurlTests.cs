using System.Diagnostics;
using System.Net.Http.Headers;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Assets;

/// <summary>Cross-checks with real curl, so the server is not only judged by our own client.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class AssetCurlTests(AssetServerFixture server) : IClassFixture<AssetServerFixture>, IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly DirectoryInfo _work = Directory.CreateTempSubdirectory("provisioner-assets-curl-");

    public void Dispose() => _work.Delete(recursive: true);

    private sealed record CurlResult(int ExitCode, string Stdout, string Stderr);

    private static async Task<CurlResult> Curl(params string[] args)
    {
        var curl = Requires.Program("curl", "curl");
        var start = new ProcessStartInfo(curl) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync(Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        return new CurlResult(process.ExitCode, await stdout, await stderr);
    }

    private string Url(string path) => new Uri(server.BaseAddress, path).ToString();
    private string WorkFile(string name) => Path.Combine(_work.FullName, name);

    [Fact]
    public async Task Curl_single_range_receives_exactly_those_bytes()
    {
        var result = await Curl("-s", "--fail", "-r", "1000-1999", "-o", WorkFile("out"), "-w", "%{http_code}", Url("/assets/data.bin"));

        Assert.Equal((0, "206"), (result.ExitCode, result.Stdout));
        Assert.Equal(server.Data[1000..2000], await File.ReadAllBytesAsync(WorkFile("out"), Ct));
    }

    [Fact]
    public async Task Curl_multi_range_receives_a_multipart_body_of_the_announced_length()
    {
        // curl exits 18 (partial file) if the body is shorter than Content-Length.
        var result = await Curl("-s", "--fail", "-r", "0-9,20-29", "-D", WorkFile("headers"), "-o", WorkFile("body"),
            "-w", "%{http_code} %{size_download}", Url("/assets/data.bin"));

        var body = await File.ReadAllBytesAsync(WorkFile("body"), Ct);
        Assert.Equal((0, $"206 {body.Length}"), (result.ExitCode, result.Stdout));
        var headers = (await File.ReadAllLinesAsync(WorkFile("headers"), Ct)).Where(l => l.Contains(':'))
            .ToDictionary(l => l[..l.IndexOf(':')].ToLowerInvariant(), l => l[(l.IndexOf(':') + 1)..].Trim());
        Assert.Equal(body.Length.ToString(), headers["content-length"]);
        var parts = await AssetHttpTests.ReadPartsAsync(MediaTypeHeaderValue.Parse(headers["content-type"]), body);
        Assert.Equal([server.Data[0..10], server.Data[20..30]], parts.Select(p => p.Body));
        Assert.Equal(["bytes 0-9/65536", "bytes 20-29/65536"], parts.Select(p => p.ContentRange));
    }

    [Fact]
    public async Task Curl_resumes_an_interrupted_download_to_the_exact_file()
    {
        var target = WorkFile("resumed.bin");
        await File.WriteAllBytesAsync(target, server.Data[..12345], Ct);

        var result = await Curl("-s", "--fail", "-C", "-", "-o", target, "-w", "%{http_code}", Url("/assets/data.bin"));

        Assert.Equal((0, "206"), (result.ExitCode, result.Stdout));
        Assert.Equal(server.Data, await File.ReadAllBytesAsync(target, Ct));
    }

    [Fact]
    public async Task Curl_head_reports_length_and_accept_ranges()
    {
        var result = await Curl("-s", "--fail", "-I", Url("/assets/data.bin"));

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Content-Length: 65536", result.Stdout, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("Accept-Ranges: bytes", result.Stdout, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Curl_path_as_is_traversal_gets_nothing_from_outside()
    {
        var result = await Curl("-s", "--path-as-is", "-o", WorkFile("out"), "-w", "%{http_code}", Url("/assets/../../../../etc/passwd"));

        Assert.Equal((0, "404"), (result.ExitCode, result.Stdout));
        Assert.DoesNotContain("root:", await File.ReadAllTextAsync(WorkFile("out"), Ct));
    }
}
