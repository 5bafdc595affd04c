using System.Net;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Provisioner.Pki;
using Provisioner.Primitives;

namespace Provisioner.Api;

/// <summary>
/// The operator credential: a bearer token in <c>&lt;cluster-dir&gt;/auth/operator.token</c> (0600), made on the first
/// start. The operator API (machine lists with every MAC and UUID, state changes) answers it, or any request from a
/// loopback address (the operator on the bootstrap host); everything else gets 401. Machine-facing endpoints stay open.
/// </summary>
internal sealed class OperatorCredential(string clusterDirectory) : IHostedService
{
    public const string FileName = "operator.token";

    private byte[]? _token;

    public string FilePath { get; } = Path.Combine(clusterDirectory, "auth", FileName);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (!File.Exists(FilePath))
        {
            // Made under the file's lock so that two first starts on one directory agree on one token.
            await using var fileLock = await FileLock.AcquireAsync(FilePath, cancellationToken);
            if (!File.Exists(FilePath))
                await AtomicFile.WriteAsync(FilePath, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32)) + "\n", AtomicFile.PrivateMode, cancellationToken);
        }
        var text = (await File.ReadAllTextAsync(FilePath, cancellationToken)).Trim();
        if (text.Length < 32) throw new InvalidDataException($"{FilePath}: the operator token is shorter than 32 characters");
        _token = Encoding.UTF8.GetBytes(text);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Whether the request may use the operator API, and why not.</summary>
    public (bool Allowed, string? WhyNot) Check(HttpContext context)
    {
        if (context.Connection.RemoteIpAddress is { } remote && IPAddress.IsLoopback(remote)) return (true, null);
        var header = context.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
            return (false, $"the operator API needs the operator token from {FilePath} (Authorization: Bearer …) when not asked from loopback");
        var given = Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim());
        return _token is not null && CryptographicOperations.FixedTimeEquals(given, _token)
            ? (true, null)
            : (false, "the bearer token is not the operator token");
    }
}

internal static class OperatorAccessExtensions
{
    public static IServiceCollection AddOperatorCredential(this IServiceCollection services, ClusterDirectoryPath clusterDirectory)
    {
        services.AddSingleton(new OperatorCredential(clusterDirectory.FullPath));
        services.AddHostedService(sp => sp.GetRequiredService<OperatorCredential>());
        return services;
    }

    /// <summary>Only the operator (loopback, or the operator token) reaches this endpoint; others get 401 with the reason.</summary>
    public static TBuilder RequireOperator<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(async (context, next) =>
        {
            var (allowed, whyNot) = context.HttpContext.RequestServices.GetRequiredService<OperatorCredential>().Check(context.HttpContext);
            if (allowed) return await next(context);
            context.HttpContext.Response.Headers.WWWAuthenticate = "Bearer realm=\"provisioner\"";
            return PlainText.Problem(StatusCodes.Status401Unauthorized, whyNot!);
        });
}
