using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Provisioner.Assets;

namespace Provisioner.Tests.Assets;

/// <summary>
/// A real Kestrel on 127.0.0.1:&lt;random port&gt; serving a temporary asset root through
/// <see cref="AssetEndpoints.MapAssets"/>. Beside the root lies an "outside" directory that must never be reachable.
/// </summary>
public sealed class AssetServerFixture : IAsyncLifetime
{
    private readonly DirectoryInfo _sandbox = Directory.CreateTempSubdirectory("provisioner-assets-");
    private WebApplication? _app;

    public string Root => Path.Combine(_sandbox.FullName, "root");
    public string Outside => Path.Combine(_sandbox.FullName, "outside");
    public Uri BaseAddress { get; private set; } = null!;
    public HttpClient Client { get; private set; } = null!;

    /// <summary>64 KiB of deterministic noise in <c>data.bin</c>; ranges are checked against it.</summary>
    public byte[] Data { get; } = MakeData(64 * 1024);
    public const string HelloText = "hello, assets\n";
    public const string BlobCacheControl = "public, max-age=31536000, immutable";
    public const string OutsideSecret = "outside-the-root-secret\n";

    public async ValueTask InitializeAsync()
    {
        Directory.CreateDirectory(Root);
        Directory.CreateDirectory(Outside);
        Directory.CreateDirectory(Path.Combine(Root, "sub"));
        await File.WriteAllTextAsync(Path.Combine(Root, "hello.txt"), HelloText);
        await File.WriteAllBytesAsync(Path.Combine(Root, "data.bin"), Data);
        await File.WriteAllBytesAsync(Path.Combine(Root, "sub", "vmlinuz"), Data[..1000]);
        await File.WriteAllBytesAsync(Path.Combine(Root, "empty.bin"), []);
        await File.WriteAllTextAsync(Path.Combine(Root, ".hidden"), "dotfile\n");
        await File.WriteAllTextAsync(Path.Combine(Outside, "secret.txt"), OutsideSecret);
        File.CreateSymbolicLink(Path.Combine(Root, "passwd-link"), "/etc/passwd");
        Directory.CreateSymbolicLink(Path.Combine(Root, "etc-link"), "/etc");
        File.CreateSymbolicLink(Path.Combine(Root, "outside-link"), "../outside/secret.txt");
        Directory.CreateSymbolicLink(Path.Combine(Root, "sub", "outside-dir"), "../../outside");
        File.CreateSymbolicLink(Path.Combine(Root, "data-link.bin"), "data.bin");
        Directory.CreateSymbolicLink(Path.Combine(Root, "sub", "up"), "..");
        File.CreateSymbolicLink(Path.Combine(Root, "loop"), "loop");

        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        _app = builder.Build();
        var assets = new AssetFileServer(new AssetsOptions(Root));
        _app.MapAssets(assets);
        // How the lead serves content-addressed blobs: a caller-chosen file with a Cache-Control value.
        _app.MapGet("/blob/{name}", (HttpContext context, string name) =>
            assets.ServeFileAsync(context, new FileInfo(Path.Combine(Root, name)), BlobCacheControl, context.RequestAborted));
        await _app.StartAsync(TestContext.Current.CancellationToken);

        var address = _app.Services.GetRequiredService<Microsoft.AspNetCore.Hosting.Server.IServer>()
            .Features.GetRequiredFeature<IServerAddressesFeature>().Addresses.Single();
        BaseAddress = new Uri(address);
        Client = new HttpClient { BaseAddress = BaseAddress };
    }

    public async ValueTask DisposeAsync()
    {
        Client?.Dispose();
        if (_app is not null) await _app.DisposeAsync();
        _sandbox.Delete(recursive: true);
    }

    private static byte[] MakeData(int length)
    {
        var bytes = new byte[length];
        new Random(20240601).NextBytes(bytes);
        return bytes;
    }
}
