using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Provisioner.Assets;
using Provisioner.Hosting;
using Provisioner.Registry;

namespace Provisioner.Release;

/// <summary>Where the release store lives when <c>--store</c> is not given: <c>release-store/</c> beside the profiles directory.</summary>
public static class ReleaseStoreLocation
{
    public const string DefaultDirectoryName = "release-store";

    public static string Resolve(string? store, string profilesDirectory) =>
        Path.GetFullPath(store ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(profilesDirectory))!, DefaultDirectoryName));
}

/// <summary>The release mirror's wiring into <see cref="ProvisionerServer"/>: one call each for services and endpoints.</summary>
public static class ReleaseHosting
{
    public static IServiceCollection AddReleaseMirror(this IServiceCollection services, ServerOptions options)
    {
        var store = new ContentStore(ReleaseStoreLocation.Resolve(options.StoreDirectory, options.ProfilesDirectory));
        services.AddSingleton(store);
        services.AddSingleton(new ImageRepositories(store));
        services.AddHostedService<ReleaseSyncService>();
        return services;
    }

    public static WebApplication MapReleaseMirror(this WebApplication app)
    {
        app.MapRegistry(app.Services.GetRequiredService<ImageRepositories>(), app.Services.GetRequiredService<AssetFileServer>());
        app.MapReleaseArtifacts();
        return app;
    }
}
