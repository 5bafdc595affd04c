using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Microsoft.AspNetCore.WebUtilities;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Assets;

/// <summary>GET/HEAD, ranges and conditional requests against a real Kestrel.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class AssetHttpTests(AssetServerFixture server) : IClassFixture<AssetServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private HttpClient Client => server.Client;

    private static HttpRequestMessage Get(string path, Action<HttpRequestHeaders>? headers = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Get, path);
        headers?.Invoke(request.Headers);
        return request;
    }

    private static HttpRequestMessage WithRange(string path, string range) =>
        Get(path, h => h.TryAddWithoutValidation("Range", range));

    private async Task<EntityTagHeaderValue> ETagOf(string path)
    {
        using var response = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path), Ct);
        return response.Headers.ETag!;
    }

    [Fact]
    public async Task Get_returns_the_whole_file_with_length_type_validators_and_accept_ranges()
    {
        using var response = await Client.GetAsync("/assets/data.bin", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(server.Data, await response.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(server.Data.Length, response.Content.Headers.ContentLength);
        Assert.Equal("application/octet-stream", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(["bytes"], response.Headers.AcceptRanges);
        Assert.False(response.Headers.ETag!.IsWeak);
        var mtime = File.GetLastWriteTimeUtc(Path.Combine(server.Root, "data.bin"));
        Assert.Equal(new DateTimeOffset(mtime.AddTicks(-(mtime.Ticks % TimeSpan.TicksPerSecond)), TimeSpan.Zero),
            response.Content.Headers.LastModified);
    }

    [Fact]
    public async Task Content_type_comes_from_the_file_extension()
    {
        using var response = await Client.GetAsync("/assets/hello.txt", Ct);

        Assert.Equal("text/plain", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(AssetServerFixture.HelloText, await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Files_in_subdirectories_are_served()
    {
        using var response = await Client.GetAsync("/assets/sub/vmlinuz", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(server.Data[..1000], await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Empty_file_is_served_with_zero_length()
    {
        using var response = await Client.GetAsync("/assets/empty.bin", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(0, response.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task Head_sends_the_same_headers_as_get_but_no_body()
    {
        using var get = await Client.GetAsync("/assets/data.bin", Ct);
        using var head = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/assets/data.bin"), Ct);

        Assert.Equal(HttpStatusCode.OK, head.StatusCode);
        Assert.Equal(get.Content.Headers.ContentLength, head.Content.Headers.ContentLength);
        Assert.Equal(get.Headers.ETag, head.Headers.ETag);
        Assert.Equal(get.Content.Headers.LastModified, head.Content.Headers.LastModified);
        Assert.Empty(await head.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Single_range_returns_206_with_content_range_and_exactly_those_bytes()
    {
        using var response = await Client.SendAsync(WithRange("/assets/data.bin", "bytes=100-1099"), Ct);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal($"bytes 100-1099/{server.Data.Length}", response.Content.Headers.ContentRange!.ToString());
        Assert.Equal(1000, response.Content.Headers.ContentLength);
        Assert.Equal(server.Data[100..1100], await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Suffix_range_returns_the_last_bytes()
    {
        using var response = await Client.SendAsync(WithRange("/assets/data.bin", "bytes=-500"), Ct);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        var len = server.Data.Length;
        Assert.Equal($"bytes {len - 500}-{len - 1}/{len}", response.Content.Headers.ContentRange!.ToString());
        Assert.Equal(server.Data[^500..], await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Open_range_runs_to_the_end_of_the_file()
    {
        using var response = await Client.SendAsync(WithRange("/assets/data.bin", "bytes=60000-"), Ct);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(server.Data[60000..], await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Range_end_past_the_file_is_clamped_to_the_last_byte()
    {
        using var response = await Client.SendAsync(WithRange("/assets/data.bin", "bytes=65000-999999"), Ct);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal($"bytes 65000-65535/65536", response.Content.Headers.ContentRange!.ToString());
        Assert.Equal(server.Data[65000..], await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Multiple_ranges_return_multipart_byteranges_whose_parts_match_the_file()
    {
        using var response = await Client.SendAsync(WithRange("/assets/data.bin", "bytes=0-9,20-29,-16"), Ct);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        var body = await response.Content.ReadAsByteArrayAsync(Ct);
        Assert.Equal(body.Length, response.Content.Headers.ContentLength);
        var len = server.Data.Length;
        var parts = await ReadPartsAsync(response.Content.Headers.ContentType!, body);
        Assert.Equal(
            [($"bytes 0-9/{len}", server.Data[0..10]), ($"bytes 20-29/{len}", server.Data[20..30]), ($"bytes {len - 16}-{len - 1}/{len}", server.Data[^16..])],
            parts.Select(p => (p.ContentRange, p.Body)));
        Assert.All(parts, p => Assert.Equal("application/octet-stream", p.ContentType));
    }

    [Fact]
    public async Task Overlapping_ranges_are_coalesced_so_no_byte_is_sent_twice()
    {
        using var response = await Client.SendAsync(WithRange("/assets/data.bin", "bytes=0-99,50-149,150-199,1000-1009"), Ct);

        var parts = await ReadPartsAsync(response.Content.Headers.ContentType!, await response.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(["bytes 0-199/65536", "bytes 1000-1009/65536"], parts.Select(p => p.ContentRange));
        Assert.Equal(server.Data[0..200], parts[0].Body);
    }

    [Fact]
    public async Task Ranges_that_coalesce_into_one_are_sent_as_a_single_part_206()
    {
        using var response = await Client.SendAsync(WithRange("/assets/data.bin", string.Concat("bytes=", string.Join(',', Enumerable.Repeat("0-9", 200)))), Ct);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal("bytes 0-9/65536", response.Content.Headers.ContentRange!.ToString());
        Assert.Equal(server.Data[..10], await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task More_distinct_ranges_than_the_cap_are_ignored_and_the_whole_file_is_sent()
    {
        var ranges = Enumerable.Range(0, 17).Select(i => $"{i * 100}-{i * 100 + 9}");
        using var response = await Client.SendAsync(WithRange("/assets/data.bin", "bytes=" + string.Join(',', ranges)), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(server.Data, await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Unsatisfiable_range_returns_416_with_the_file_length()
    {
        using var response = await Client.SendAsync(WithRange("/assets/data.bin", "bytes=70000-70010"), Ct);

        Assert.Equal(HttpStatusCode.RequestedRangeNotSatisfiable, response.StatusCode);
        Assert.Equal("bytes */65536", response.Content.Headers.ContentRange!.ToString());
    }

    [Theory]
    [InlineData("bytes=abc")]
    [InlineData("bytes=10-5")]
    [InlineData("bytes=")]
    [InlineData("lines=1-2")]
    public async Task Malformed_or_foreign_range_header_is_ignored(string range)
    {
        using var response = await Client.SendAsync(WithRange("/assets/data.bin", range), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(server.Data, await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Head_with_range_sends_the_whole_file_headers()
    {
        var request = new HttpRequestMessage(HttpMethod.Head, "/assets/data.bin");
        request.Headers.TryAddWithoutValidation("Range", "bytes=0-9");
        using var response = await Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(server.Data.Length, response.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task If_range_with_the_current_etag_honours_the_range()
    {
        var etag = await ETagOf("/assets/data.bin");
        var request = WithRange("/assets/data.bin", "bytes=0-9");
        request.Headers.TryAddWithoutValidation("If-Range", etag.ToString());
        using var response = await Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(server.Data[..10], await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task If_range_with_another_etag_sends_the_whole_file()
    {
        var request = WithRange("/assets/data.bin", "bytes=0-9");
        request.Headers.TryAddWithoutValidation("If-Range", "\"some-older-version\"");
        using var response = await Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(server.Data, await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task If_range_with_the_last_modified_date_honours_the_range()
    {
        using var head = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/assets/data.bin"), Ct);
        var request = WithRange("/assets/data.bin", "bytes=0-9");
        request.Headers.TryAddWithoutValidation("If-Range", head.Content.Headers.GetValues("Last-Modified").Single());
        using var response = await Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
    }

    [Fact]
    public async Task If_range_with_an_older_date_sends_the_whole_file()
    {
        var request = WithRange("/assets/data.bin", "bytes=0-9");
        request.Headers.TryAddWithoutValidation("If-Range", "Sat, 01 Jan 2000 00:00:00 GMT");
        using var response = await Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task If_none_match_with_the_current_etag_returns_304_without_body()
    {
        var etag = await ETagOf("/assets/data.bin");
        using var response = await Client.SendAsync(Get("/assets/data.bin", h => h.IfNoneMatch.Add(etag)), Ct);

        Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
        Assert.Equal(etag, response.Headers.ETag);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task If_none_match_with_another_etag_returns_the_file()
    {
        using var response = await Client.SendAsync(Get("/assets/data.bin", h => h.IfNoneMatch.Add(new EntityTagHeaderValue("\"other\""))), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task If_modified_since_the_last_modification_returns_304()
    {
        using var head = await Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/assets/data.bin"), Ct);
        var lastModified = head.Content.Headers.LastModified!.Value;
        using var response = await Client.SendAsync(Get("/assets/data.bin", h => h.IfModifiedSince = lastModified), Ct);

        Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
    }

    [Fact]
    public async Task If_modified_since_an_older_date_returns_the_file()
    {
        using var response = await Client.SendAsync(Get("/assets/data.bin", h => h.IfModifiedSince = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero)), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task If_match_with_another_etag_returns_412()
    {
        using var response = await Client.SendAsync(Get("/assets/data.bin", h => h.IfMatch.Add(new EntityTagHeaderValue("\"other\""))), Ct);

        Assert.Equal(HttpStatusCode.PreconditionFailed, response.StatusCode);
    }

    [Fact]
    public async Task If_match_with_the_current_etag_returns_the_file()
    {
        var etag = await ETagOf("/assets/data.bin");
        using var response = await Client.SendAsync(Get("/assets/data.bin", h => h.IfMatch.Add(etag)), Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task If_unmodified_since_an_older_date_returns_412()
    {
        using var response = await Client.SendAsync(Get("/assets/data.bin", h => h.IfUnmodifiedSince = new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero)), Ct);

        Assert.Equal(HttpStatusCode.PreconditionFailed, response.StatusCode);
    }

    [Fact]
    public async Task Missing_file_returns_404_with_a_plain_text_reason()
    {
        using var response = await Client.GetAsync("/assets/no-such-file.img", Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal("no such asset\n", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Post_is_not_routed_to_assets()
    {
        using var response = await Client.PostAsync("/assets/data.bin", new ByteArrayContent([]), Ct);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
    }

    internal sealed record Part(string ContentType, string ContentRange, byte[] Body);

    /// <summary>Parses multipart/byteranges with ASP.NET's own MultipartReader (independent of the writer).</summary>
    internal static async Task<List<Part>> ReadPartsAsync(MediaTypeHeaderValue contentType, byte[] body)
    {
        Assert.Equal("multipart/byteranges", contentType.MediaType);
        var boundary = contentType.Parameters.Single(p => p.Name == "boundary").Value!.Trim('"');
        var reader = new MultipartReader(boundary, new MemoryStream(body));
        var parts = new List<Part>();
        while (await reader.ReadNextSectionAsync(TestContext.Current.CancellationToken) is { } section)
        {
            using var bytes = new MemoryStream();
            await section.Body.CopyToAsync(bytes, TestContext.Current.CancellationToken);
            parts.Add(new Part(section.ContentType!, section.Headers!["Content-Range"].ToString(), bytes.ToArray()));
        }
        // The writer must close the multipart body properly: the final delimiter ends the payload.
        Assert.EndsWith($"\r\n--{boundary}--\r\n", Encoding.ASCII.GetString(body));
        return parts;
    }
}
