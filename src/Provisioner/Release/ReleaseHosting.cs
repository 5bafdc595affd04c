using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Provisioner.Release;

/// <summary>Where the release store lives when <c>--store</c> is not given: <c>release-store/</c> beside the profiles directory.</summary>
internal static class ReleaseStoreLocation
{
    public const string DefaultDirectoryName = "release-store";

    public static string Resolve(string? store, string profilesDirectory) =>
        Path.GetFullPath(store ?? Path.Combine(Path.GetDirectoryName(Path.GetFullPath(profilesDirectory))!, DefaultDirectoryName));
}

/// <summary>The release mirror's settings as configuration holds them (property names are the settings' keys).</summary>
internal sealed class ReleaseMirrorConfiguration
{
    public string? Store { get; set; }
    /// <summary>Only to place the default store beside the profiles directory.</summary>
    public string? Profiles { get; set; }

    public string StoreDirectory => ReleaseStoreLocation.Resolve(Store, Profiles ?? "profiles");
}

/// <summary>The release mirror's wiring into the server: one call each for services and endpoints (the registry at <c>/v2/</c> maps itself).</summary>
internal static class ReleaseHosting
{
    /// <summary>The content-addressed store from <c>store</c> (see <see cref="ReleaseStoreLocation"/>), opened when first used.</summary>
    public static IServiceCollection AddReleaseMirror(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<ReleaseMirrorConfiguration>().Bind(configuration);
        services.AddSingleton(sp => new ContentStore(sp.GetRequiredService<IOptions<ReleaseMirrorConfiguration>>().Value.StoreDirectory));
        services.AddSingleton(sp => new ImageRepositories(sp.GetRequiredService<ContentStore>()));
        services.AddHostedService<ReleaseSyncService>();
        return services;
    }

    public static WebApplication MapReleaseMirror(this WebApplication app)
    {
        app.MapReleaseArtifacts();
        return app;
    }
}
