using System.Net;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Assets;

/// <summary><see cref="Provisioner.Assets.AssetFileServer.ServeFileAsync"/>: serving a caller-chosen file, e.g. a content-addressed blob.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class AssetServeFileTests(AssetServerFixture server) : IClassFixture<AssetServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Given_cache_control_is_sent_with_the_file()
    {
        using var response = await server.Client.GetAsync("/blob/data.bin", Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(AssetServerFixture.BlobCacheControl, response.Headers.CacheControl!.ToString());
        Assert.Equal(server.Data, await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Not_modified_response_keeps_cache_control_and_etag()
    {
        using var first = await server.Client.GetAsync("/blob/data.bin", Ct);
        var request = new HttpRequestMessage(HttpMethod.Get, "/blob/data.bin");
        request.Headers.IfNoneMatch.Add(first.Headers.ETag!);
        using var response = await server.Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.NotModified, response.StatusCode);
        Assert.Equal(first.Headers.ETag, response.Headers.ETag);
        Assert.Equal(AssetServerFixture.BlobCacheControl, response.Headers.CacheControl!.ToString());
    }

    [Fact]
    public async Task Ranges_work_on_served_files()
    {
        var request = new HttpRequestMessage(HttpMethod.Get, "/blob/data.bin");
        request.Headers.TryAddWithoutValidation("Range", "bytes=10-19");
        using var response = await server.Client.SendAsync(request, Ct);

        Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
        Assert.Equal(server.Data[10..20], await response.Content.ReadAsByteArrayAsync(Ct));
    }

    [Fact]
    public async Task Missing_file_is_404_without_cache_control()
    {
        using var response = await server.Client.GetAsync("/blob/absent.bin", Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        Assert.Null(response.Headers.CacheControl);
        Assert.Equal("no such asset\n", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Etag_changes_when_the_file_is_rewritten()
    {
        var path = Path.Combine(server.Root, "rewritten.bin");
        try
        {
            await File.WriteAllBytesAsync(path, [1, 2, 3], Ct);
            File.SetLastWriteTimeUtc(path, new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc));
            using var before = await server.Client.GetAsync("/blob/rewritten.bin", Ct);
            await File.WriteAllBytesAsync(path, [4, 5, 6], Ct);
            File.SetLastWriteTimeUtc(path, new DateTime(2024, 1, 1, 0, 0, 1, DateTimeKind.Utc));
            using var after = await server.Client.GetAsync("/blob/rewritten.bin", Ct);

            Assert.NotEqual(before.Headers.ETag, after.Headers.ETag);
            Assert.Equal([4, 5, 6], await after.Content.ReadAsByteArrayAsync(Ct));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
