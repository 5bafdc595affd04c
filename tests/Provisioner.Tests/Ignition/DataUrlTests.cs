using System.Text;
using Provisioner.Ignition;

namespace Provisioner.Tests.Ignition;

public class DataUrlTests
{
    private static byte[] Utf8(string s) => Encoding.UTF8.GetBytes(s);

    [Fact]
    public void Small_text_is_percent_encoded_and_readable() =>
        Assert.Equal("data:,hello%20world%0A", DataUrl.Encode(Utf8("hello world\n")));

    [Fact]
    public void Characters_with_meaning_in_urls_are_escaped() =>
        Assert.Equal("data:,a%25b%2Bc%23d%3Fe", DataUrl.Encode(Utf8("a%b+c#d?e")));

    [Fact]
    public void Binary_data_is_base64() =>
        Assert.Equal("data:;base64,AAH/", DataUrl.Encode(new byte[] { 0, 1, 255 }));

    [Fact]
    public void Empty_data_is_an_empty_plain_url() => Assert.Equal("data:,", DataUrl.Encode([]));

    [Theory]
    [InlineData("")]
    [InlineData("hello world\n")]
    [InlineData("ünïcödé ✓ %41 +")]
    public void Encoded_text_decodes_to_the_same_bytes(string text) =>
        Assert.Equal(Utf8(text), DataUrl.Decode(new Resource { Source = DataUrl.Encode(Utf8(text)) }));

    [Fact]
    public void Random_binary_decodes_to_the_same_bytes()
    {
        var data = new byte[10_000];
        new Random(42).NextBytes(data);
        Assert.Equal(data, DataUrl.Decode(DataUrl.ForContents(data)));
    }

    [Fact]
    public void Large_compressible_contents_are_gzipped()
    {
        var data = Utf8(string.Concat(Enumerable.Repeat("apiVersion: v1\nkind: ConfigMap\n", 500)));
        var resource = DataUrl.ForContents(data);
        Assert.Equal("gzip", resource.Compression);
        Assert.True(resource.Source!.Length < data.Length / 4, $"gzipped URL is {resource.Source.Length} chars for {data.Length} bytes");
        Assert.Equal(data, DataUrl.Decode(resource));
    }

    [Fact]
    public void Small_contents_are_not_compressed() =>
        Assert.Null(DataUrl.ForContents(Utf8(new string('a', DataUrl.CompressAbove))).Compression);

    [Fact]
    public void Large_incompressible_contents_are_not_compressed()
    {
        var data = new byte[DataUrl.CompressAbove * 2];
        new Random(7).NextBytes(data);
        Assert.Null(DataUrl.ForContents(data).Compression);
    }

    [Fact]
    public void Decoding_percent_encoded_text_from_other_tools_works() =>
        Assert.Equal(Utf8("a b\n"), DataUrl.Decode(new Resource { Source = "data:text/plain;charset=utf-8,a%20b%0a" }));

    [Fact]
    public void Decoding_a_remote_source_fails_clearly() =>
        Assert.Contains("not a data: URL", Assert.Throws<FormatException>(() => DataUrl.Decode(new Resource { Source = "https://example.test/x" })).Message);

    [Fact]
    public void Decoding_unknown_compression_fails_clearly() =>
        Assert.Contains("xz", Assert.Throws<FormatException>(() => DataUrl.Decode(new Resource { Source = "data:,x", Compression = "xz" })).Message);

    [Fact]
    public void Decoding_corrupt_gzip_fails_clearly() =>
        Assert.Contains("gzip", Assert.Throws<FormatException>(() => DataUrl.Decode(new Resource { Source = "data:;base64,AAAA", Compression = "gzip" })).Message);
}
