using System.Net;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Assets;

/// <summary>
/// Nothing outside the asset root is reachable, however the path is spelled. Request targets go out
/// over raw TCP so that neither HttpClient nor Uri can normalise them first.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class AssetSecurityTests(AssetServerFixture server) : IClassFixture<AssetServerFixture>
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Task<RawHttp.Response> RawGet(string target) => RawHttp.GetAsync(server.BaseAddress, target, Ct);

    private static void AssertLeaksNothing(RawHttp.Response response)
    {
        Assert.NotEqual(200, response.Status);
        Assert.DoesNotContain("root:", response.BodyText);
        Assert.DoesNotContain(AssetServerFixture.OutsideSecret, response.BodyText);
    }

    [Theory]
    [InlineData("/assets/sub/..%2f..%2f..%2fetc%2fpasswd")]
    [InlineData("/assets/sub/..%2F..%2Foutside%2Fsecret.txt")]
    [InlineData("/assets/%2e%2e%2foutside%2fsecret.txt")]
    [InlineData("/assets/%252e%252e%252foutside%252fsecret.txt")]
    [InlineData("/assets/sub%2f..%2fhello.txt")]
    public async Task Encoded_dot_segments_are_rejected_with_400(string target)
    {
        var response = await RawGet(target);

        AssertLeaksNothing(response);
        Assert.Equal(400, response.Status);
        Assert.Contains("dot segment", response.BodyText);
    }

    [Theory]
    [InlineData("/assets/../../../../etc/passwd")]
    [InlineData("/assets/sub/../../outside/secret.txt")]
    [InlineData("/assets/%2e%2e/%2e%2e/etc/passwd")]
    public async Task Raw_dot_segments_never_escape_the_assets_route(string target)
    {
        // Kestrel removes dot segments before routing, so these arrive as /etc/passwd or /outside/… and match nothing.
        var response = await RawGet(target);

        AssertLeaksNothing(response);
        Assert.Equal(404, response.Status);
    }

    [Fact]
    public async Task Raw_dot_segments_that_stay_inside_the_root_are_harmless()
    {
        var response = await RawGet("/assets/sub/../hello.txt");

        Assert.Equal(200, response.Status);
        Assert.Equal(AssetServerFixture.HelloText, response.BodyText);
    }

    [Theory]
    [InlineData("/assets/%2fetc%2fpasswd")]
    [InlineData("/assets/%2Fetc/passwd")]
    public async Task Absolute_paths_are_rejected_with_400(string target)
    {
        var response = await RawGet(target);

        AssertLeaksNothing(response);
        Assert.Equal(400, response.Status);
        Assert.Contains("absolute path", response.BodyText);
    }

    [Theory]
    [InlineData("/assets/sub%5c..%5c..%5coutside%5csecret.txt")]
    [InlineData("/assets/sub%5Cvmlinuz")]
    public async Task Backslashes_are_rejected_with_400(string target)
    {
        var response = await RawGet(target);

        AssertLeaksNothing(response);
        Assert.Equal(400, response.Status);
    }

    [Fact]
    public async Task Nul_bytes_are_rejected_with_400()
    {
        var response = await RawGet("/assets/hello.txt%00.img");

        Assert.Equal(400, response.Status);
    }

    [Fact]
    public async Task Symlink_to_a_file_outside_the_root_is_404()
    {
        var response = await RawGet("/assets/passwd-link");

        AssertLeaksNothing(response);
        Assert.Equal(404, response.Status);
    }

    [Fact]
    public async Task Relative_symlink_climbing_out_of_the_root_is_404()
    {
        var response = await RawGet("/assets/outside-link");

        AssertLeaksNothing(response);
        Assert.Equal(404, response.Status);
    }

    [Theory]
    [InlineData("/assets/etc-link/passwd")]
    [InlineData("/assets/sub/outside-dir/secret.txt")]
    public async Task Symlinked_directory_leaving_the_root_is_404(string target)
    {
        var response = await RawGet(target);

        AssertLeaksNothing(response);
        Assert.Equal(404, response.Status);
    }

    [Fact]
    public async Task Symlink_within_the_root_is_followed()
    {
        var response = await RawGet("/assets/data-link.bin");

        Assert.Equal(200, response.Status);
        Assert.Equal(server.Data, response.Body);
    }

    [Fact]
    public async Task Symlinked_directory_within_the_root_is_followed()
    {
        var response = await RawGet("/assets/sub/up/hello.txt");

        Assert.Equal(200, response.Status);
        Assert.Equal(AssetServerFixture.HelloText, response.BodyText);
    }

    [Fact]
    public async Task Symlink_loop_is_404()
    {
        var response = await RawGet("/assets/loop");

        Assert.Equal(404, response.Status);
    }

    [Theory]
    [InlineData("/assets/sub")]
    [InlineData("/assets/sub/")]
    [InlineData("/assets/")]
    [InlineData("/assets")]
    public async Task Directories_are_404(string target)
    {
        var response = await RawGet(target);

        Assert.Equal(404, response.Status);
    }

    [Fact]
    public async Task Dotfiles_are_404()
    {
        var response = await RawGet("/assets/.hidden");

        Assert.Equal(404, response.Status);
        Assert.DoesNotContain("dotfile", response.BodyText);
    }

    [Fact]
    public async Task Error_responses_are_short_plain_text()
    {
        var response = await RawGet("/assets/sub/..%2f..%2fetc%2fpasswd");

        Assert.Contains("Content-Type: text/plain; charset=utf-8", response.Head);
        Assert.Equal("dot segment in path\n", response.BodyText);
    }
}
