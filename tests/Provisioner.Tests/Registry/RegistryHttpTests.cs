using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Provisioner.Tests.Support;
using Provisioner.Primitives;

namespace Provisioner.Tests.Registry;

/// <summary>The /v2/ API as the OCI Distribution spec defines it, checked with a plain HTTP client.</summary>
public sealed class RegistryHttpTests(RegistryFixture registry) : IClassFixture<RegistryFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private HttpClient Client => registry.Client;

    private static async Task<string> ErrorCode(HttpResponseMessage response)
    {
        Assert.Equal("application/json", response.Content.Headers.ContentType?.MediaType);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsStringAsync(Ct));
        var error = doc.RootElement.GetProperty("errors")[0];
        Assert.False(string.IsNullOrEmpty(error.GetProperty("message").GetString()));
        return error.GetProperty("code").GetString()!;
    }

    private Task<HttpResponseMessage> Send(HttpMethod method, string path, Action<HttpRequestMessage>? configure = null)
    {
        var request = new HttpRequestMessage(method, path);
        configure?.Invoke(request);
        return Client.SendAsync(request, Ct);
    }

    [Theory]
    [InlineData("GET")]
    [InlineData("HEAD")]
    public async Task The_version_check_answers_200_with_the_api_version_header(string method)
    {
        using var response = await Send(new HttpMethod(method), "/v2/");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("registry/2.0", response.Headers.GetValues("Docker-Distribution-API-Version").Single());
    }

    [Fact]
    public async Task A_manifest_by_tag_carries_its_media_type_digest_and_length()
    {
        using var response = await Send(HttpMethod.Get, "/v2/library/pause/manifests/3.10");
        var body = await response.Content.ReadAsByteArrayAsync(Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(registry.Pause.Manifest.Content, body);
        Assert.Equal(OciLayoutBuilder.OciManifest, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(registry.Pause.Manifest.Digest, response.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(body.Length, response.Content.Headers.ContentLength);
    }

    [Fact]
    public async Task HEAD_of_a_manifest_has_the_headers_and_no_body()
    {
        using var response = await Send(HttpMethod.Head, "/v2/library/pause/manifests/3.10");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(registry.Pause.Manifest.Digest, response.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(registry.Pause.Manifest.Size, response.Content.Headers.ContentLength);
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task A_manifest_by_digest_is_the_same_bytes_and_immutable()
    {
        using var response = await Send(HttpMethod.Get, $"/v2/library/pause/manifests/{registry.Pause.Manifest.Digest}");

        Assert.Equal(registry.Pause.Manifest.Content, await response.Content.ReadAsByteArrayAsync(Ct));
        Assert.Contains("immutable", response.Headers.CacheControl?.ToString());
    }

    [Fact]
    public async Task A_multi_arch_tag_is_an_image_index_and_its_children_are_served_by_digest()
    {
        using var index = await Send(HttpMethod.Get, "/v2/k8s/kube-apiserver/manifests/v1.31.2");
        using var child = await Send(HttpMethod.Get, $"/v2/k8s/kube-apiserver/manifests/{registry.ApiServerArm64.Manifest.Digest}");

        Assert.Equal(OciLayoutBuilder.OciIndex, index.Content.Headers.ContentType?.MediaType);
        Assert.Equal(registry.ApiServerIndex.Digest, index.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Equal(HttpStatusCode.OK, child.StatusCode);
        Assert.Equal(registry.ApiServerArm64.Manifest.Content, await child.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task A_docker_schema2_manifest_is_served_with_the_docker_media_type()
    {
        using var response = await Send(HttpMethod.Get, "/v2/docker/app/manifests/1");

        Assert.Equal(OciLayoutBuilder.DockerManifest, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(registry.DockerApp.Manifest.Digest, response.Headers.GetValues("Docker-Content-Digest").Single());
    }

    [Fact]
    public async Task A_blob_is_served_whole_with_its_digest()
    {
        using var response = await Send(HttpMethod.Get, $"/v2/library/pause/blobs/{registry.Pause.Layer.Digest}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(registry.Pause.Layer.Content, await response.Content.ReadAsByteArrayAsync(Ct));
        Assert.Equal(registry.Pause.Layer.Digest, response.Headers.GetValues("Docker-Content-Digest").Single());
    }

    [Fact]
    public async Task A_docker_manifest_list_is_served_with_its_media_type()
    {
        using var response = await Send(HttpMethod.Get, "/v2/docker/app/manifests/multi");

        Assert.Equal(OciLayoutBuilder.DockerManifestList, response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(registry.DockerList.Digest, response.Headers.GetValues("Docker-Content-Digest").Single());
    }

    [Fact]
    public async Task HEAD_of_a_blob_has_its_length_and_digest_and_no_body()
    {
        using var response = await Send(HttpMethod.Head, $"/v2/library/pause/blobs/{registry.Pause.Layer.Digest}");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(registry.Pause.Layer.Size, response.Content.Headers.ContentLength);
        Assert.Equal(registry.Pause.Layer.Digest, response.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.Empty(await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task A_blob_range_request_gets_exactly_those_bytes()
    {
        using var response = await Send(HttpMethod.Get, $"/v2/library/pause/blobs/{registry.Pause.Layer.Digest}",
            r => r.Headers.Range = new RangeHeaderValue(1000, 1999));

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(registry.Pause.Layer.Content[1000..2000], await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task An_unknown_tag_is_MANIFEST_UNKNOWN()
    {
        using var response = await Send(HttpMethod.Get, "/v2/library/pause/manifests/9.99");

        Assert.Equal((HttpStatusCode.NotFound, "MANIFEST_UNKNOWN"), (response.StatusCode, await ErrorCode(response)));
    }

    [Fact]
    public async Task A_manifest_of_another_repository_is_MANIFEST_UNKNOWN()
    {
        using var response = await Send(HttpMethod.Get, $"/v2/library/pause/manifests/{registry.DockerApp.Manifest.Digest}");

        Assert.Equal((HttpStatusCode.NotFound, "MANIFEST_UNKNOWN"), (response.StatusCode, await ErrorCode(response)));
    }

    [Fact]
    public async Task An_unknown_repository_is_NAME_UNKNOWN()
    {
        using var response = await Send(HttpMethod.Get, "/v2/library/nothing/manifests/1");

        Assert.Equal((HttpStatusCode.NotFound, "NAME_UNKNOWN"), (response.StatusCode, await ErrorCode(response)));
    }

    [Fact]
    public async Task A_repository_name_outside_the_grammar_is_NAME_INVALID()
    {
        using var response = await Send(HttpMethod.Get, "/v2/Library/Pause/manifests/3.10");

        Assert.Equal((HttpStatusCode.BadRequest, "NAME_INVALID"), (response.StatusCode, await ErrorCode(response)));
    }

    [Fact]
    public async Task A_blob_of_another_repository_is_BLOB_UNKNOWN()
    {
        using var response = await Send(HttpMethod.Get, $"/v2/library/pause/blobs/{registry.DockerApp.Layer.Digest}");

        Assert.Equal((HttpStatusCode.NotFound, "BLOB_UNKNOWN"), (response.StatusCode, await ErrorCode(response)));
    }

    [Theory]
    [InlineData("sha256:1234")]
    [InlineData("md5:abc")]
    [InlineData("sha256:ZZZZ")]
    public async Task A_malformed_or_unsupported_digest_is_DIGEST_INVALID(string digest)
    {
        using var response = await Send(HttpMethod.Get, $"/v2/library/pause/blobs/{digest}");

        Assert.Equal((HttpStatusCode.BadRequest, "DIGEST_INVALID"), (response.StatusCode, await ErrorCode(response)));
    }

    [Theory]
    [InlineData("PUT", "/v2/library/pause/manifests/3.10")]
    [InlineData("DELETE", "/v2/library/pause/manifests/3.10")]
    [InlineData("POST", "/v2/library/pause/blobs/uploads/")]
    [InlineData("PATCH", "/v2/library/pause/blobs/uploads/abc")]
    public async Task Writes_are_405_UNSUPPORTED(string method, string path)
    {
        using var response = await Send(new HttpMethod(method), path, r => r.Content = new ByteArrayContent([1, 2, 3]));

        Assert.Equal((HttpStatusCode.MethodNotAllowed, "UNSUPPORTED"), (response.StatusCode, await ErrorCode(response)));
    }

    [Fact]
    public async Task The_tag_list_is_sorted_lexically()
    {
        using var doc = JsonDocument.Parse(await Client.GetStringAsync("/v2/library/pause/tags/list", Ct));

        Assert.Equal("library/pause", doc.RootElement.GetProperty("name").GetString());
        Assert.Equal(["3.10", "3.8", "3.9", "latest"], doc.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
    }

    [Fact]
    public async Task The_tag_list_pages_with_n_and_last_and_links_the_next_page()
    {
        using var first = await Send(HttpMethod.Get, "/v2/library/pause/tags/list?n=2");
        using var second = await Send(HttpMethod.Get, "/v2/library/pause/tags/list?n=2&last=3.8");

        using var firstDoc = JsonDocument.Parse(await first.Content.ReadAsStringAsync(Ct));
        using var secondDoc = JsonDocument.Parse(await second.Content.ReadAsStringAsync(Ct));
        Assert.Equal(["3.10", "3.8"], firstDoc.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal("</v2/library/pause/tags/list?n=2&last=3.8>; rel=\"next\"", first.Headers.GetValues("Link").Single());
        Assert.Equal(["3.9", "latest"], secondDoc.RootElement.GetProperty("tags").EnumerateArray().Select(t => t.GetString()));
        Assert.False(second.Headers.Contains("Link"));
    }

    [Fact]
    public async Task A_negative_page_size_is_PAGINATION_NUMBER_INVALID()
    {
        using var response = await Send(HttpMethod.Get, "/v2/library/pause/tags/list?n=-1");

        Assert.Equal((HttpStatusCode.BadRequest, "PAGINATION_NUMBER_INVALID"), (response.StatusCode, await ErrorCode(response)));
    }
}
