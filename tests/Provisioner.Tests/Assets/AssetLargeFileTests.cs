using System.Net;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Assets;

/// <summary>Rootfs images are several GiB: offsets and lengths must be 64-bit end to end.</summary>
[Trait(Category.Name, Category.Integration)]
public sealed class AssetLargeFileTests(AssetServerFixture server) : IClassFixture<AssetServerFixture>
{
    private const long FiveGiB = 5L * 1024 * 1024 * 1024;
    private const long MarkerOffset = 4L * 1024 * 1024 * 1024 + 123_456_789; // well past 2^32
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Range_past_4_GiB_of_a_5_GiB_sparse_file_returns_the_right_bytes_and_headers()
    {
        var path = Path.Combine(server.Root, "big-rootfs.img");
        var marker = server.Data[..4096];
        try
        {
            await using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
            {
                stream.SetLength(FiveGiB); // sparse: no real disk space used
                stream.Position = MarkerOffset;
                await stream.WriteAsync(marker, Ct);
            }

            using var head = await server.Client.SendAsync(new HttpRequestMessage(HttpMethod.Head, "/assets/big-rootfs.img"), Ct);
            Assert.Equal(FiveGiB, head.Content.Headers.ContentLength);

            var request = new HttpRequestMessage(HttpMethod.Get, "/assets/big-rootfs.img");
            request.Headers.TryAddWithoutValidation("Range", $"bytes={MarkerOffset - 8}-{MarkerOffset + marker.Length - 1}");
            using var response = await server.Client.SendAsync(request, Ct);

            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
            Assert.Equal($"bytes {MarkerOffset - 8}-{MarkerOffset + marker.Length - 1}/{FiveGiB}", response.Content.Headers.ContentRange!.ToString());
            Assert.Equal(marker.Length + 8, response.Content.Headers.ContentLength);
            var body = await response.Content.ReadAsByteArrayAsync(Ct);
            Assert.Equal(new byte[8].Concat(marker), body);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task Suffix_range_of_a_5_GiB_sparse_file_reports_64_bit_positions()
    {
        var path = Path.Combine(server.Root, "big-suffix.img");
        try
        {
            await using (var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write))
            {
                stream.SetLength(FiveGiB - 3);
                stream.Position = FiveGiB - 3;
                await stream.WriteAsync("END"u8.ToArray(), Ct);
            }

            var request = new HttpRequestMessage(HttpMethod.Get, "/assets/big-suffix.img");
            request.Headers.TryAddWithoutValidation("Range", "bytes=-3");
            using var response = await server.Client.SendAsync(request, Ct);

            Assert.Equal(HttpStatusCode.PartialContent, response.StatusCode);
            Assert.Equal($"bytes {FiveGiB - 3}-{FiveGiB - 1}/{FiveGiB}", response.Content.Headers.ContentRange!.ToString());
            var body = await response.Content.ReadAsByteArrayAsync(Ct);
            Assert.Equal("END"u8.ToArray(), body);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
