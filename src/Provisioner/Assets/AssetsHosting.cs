using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Provisioner.Assets;

/// <summary>The assets setting as configuration holds it (the property name is the setting's key).</summary>
internal sealed class AssetsConfiguration
{
    public const string DefaultDirectory = "assets";

    public string? Assets { get; set; }

    public string Directory => Assets ?? DefaultDirectory;
}

/// <summary>At start: the assets directory exists (a typo here would otherwise only show as 404s to booting machines).</summary>
internal sealed class AssetsStartupCheck : IValidateOptions<AssetsConfiguration>
{
    public ValidateOptionsResult Validate(string? name, AssetsConfiguration options) =>
        System.IO.Directory.Exists(options.Directory)
            ? ValidateOptionsResult.Success
            : ValidateOptionsResult.Fail($"--assets: the assets directory '{options.Directory}' does not exist");
}

internal static class AssetsHosting
{
    /// <summary>The directory served at <c>/assets</c> from <c>assets</c>, checked when the server starts.</summary>
    public static IServiceCollection AddAssets(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<AssetsConfiguration>().Bind(configuration).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<AssetsConfiguration>, AssetsStartupCheck>());
        services.AddSingleton(sp => new AssetsOptions(sp.GetRequiredService<IOptions<AssetsConfiguration>>().Value.Directory));
        services.AddSingleton<AssetFileServer>();
        return services;
    }
}
