using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;

namespace Provisioner.Release;

/// <summary>Where the release store lives when <c>--store</c> is not given: <c>release-store/</c> beside the profiles directory.</summary>
internal static class ReleaseStoreLocation
{
    public const string DefaultDirectoryName = "release-store";

    public static string Resolve(string? store, string profilesDirectory) =>
        Path.GetFullPath(store ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(profilesDirectory))!, DefaultDirectoryName));
}

/// <summary>The release mirror's wiring into the server: one call each for services and endpoints (the registry at <c>/v2/</c> maps itself).</summary>
internal static class ReleaseHosting
{
    /// <param name="storeDirectory">The content-addressed store (see <see cref="ReleaseStoreLocation"/>).</param>
    public static IServiceCollection AddReleaseMirror(this IServiceCollection services, string storeDirectory)
    {
        var store = new ContentStore(storeDirectory);
        services.AddSingleton(store);
        services.AddSingleton(new ImageRepositories(store));
        services.AddHostedService<ReleaseSyncService>();
        return services;
    }

    public static WebApplication MapReleaseMirror(this WebApplication app)
    {
        app.MapReleaseArtifacts();
        return app;
    }
}
