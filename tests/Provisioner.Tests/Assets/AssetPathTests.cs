using Provisioner.Assets;

namespace Provisioner.Tests.Assets;

public sealed class AssetPathTests : IDisposable
{
    private readonly DirectoryInfo _sandbox = Directory.CreateTempSubdirectory("provisioner-assetpath-");

    public void Dispose() => _sandbox.Delete(recursive: true);

    [Theory]
    [InlineData("../etc/passwd", "dot segment in path")]
    [InlineData("a/./b", "dot segment in path")]
    [InlineData("a/%2E%2E/b", "dot segment in path")]
    [InlineData("a\\b", "backslash in path")]
    [InlineData("/etc/passwd", "absolute path")]
    [InlineData("a\0b", "NUL byte in path")]
    [InlineData("a%00b", "NUL byte in path")]
    [InlineData("a\nb", "control character in path")]
    [InlineData("a//b", "empty path segment")]
    public void Suspicious_paths_are_rejected_with_a_reason(string path, string reason)
    {
        Assert.Equal(new AssetLookup.Rejected(reason), AssetPath.Validate(path));
    }

    [Theory]
    [InlineData(".ssh/id_rsa")]
    [InlineData("a/.git/config")]
    public void Hidden_segments_are_not_found(string path)
    {
        Assert.IsType<AssetLookup.NotFound>(AssetPath.Validate(path));
    }

    [Theory]
    [InlineData("vmlinuz")]
    [InlineData("debian/13/initrd.img")]
    [InlineData("rootfs..img")]
    [InlineData("100%.img")]
    public void Ordinary_paths_pass_validation(string path)
    {
        Assert.Null(AssetPath.Validate(path));
    }

    [Fact]
    public void Real_path_resolves_chained_relative_symlinks()
    {
        var root = _sandbox.FullName;
        Directory.CreateDirectory(Path.Combine(root, "x", "y"));
        File.WriteAllText(Path.Combine(root, "x", "y", "f"), "");
        Directory.CreateSymbolicLink(Path.Combine(root, "hop1"), "x");
        File.CreateSymbolicLink(Path.Combine(root, "hop2"), "hop1/y/../y/f");

        Assert.Equal(Path.Combine(AssetPath.RealPath(root), "x", "y", "f"), AssetPath.RealPath(Path.Combine(root, "hop2")));
    }

    [Fact]
    public void Root_prefix_without_a_separator_is_not_inside()
    {
        Assert.False(AssetPath.IsWithin("/srv/assets-evil/x", "/srv/assets"));
        Assert.True(AssetPath.IsWithin("/srv/assets/x", "/srv/assets"));
    }
}
