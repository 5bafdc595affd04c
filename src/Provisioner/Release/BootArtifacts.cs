using Provisioner.Profiles;
using Provisioner.Primitives;

namespace Provisioner.Release;

/// <summary>A boot reference (<c>kernel: fcos/kernel</c>) that names a release artifact, and whether the store has it yet.</summary>
internal sealed record BootArtifact(string Name, string Architecture, Digest? Sha256, bool Present);

/// <summary>Turns the names in roles' boot fields into release artifacts for one machine's architecture.</summary>
internal static class BootArtifacts
{
    /// <summary>
    /// A resolver for the iPXE script of a machine (Boot/IpxeScripts.cs): null for references the release does not name
    /// (they stay paths below the assets directory or URLs), else the artifact for <paramref name="architecture"/>.
    /// </summary>
    public static Func<string, BootArtifact?>? Resolver(ProfileSet profiles, ContentStore store, string architecture)
    {
        if (profiles.Release is not { } release) return null;
        return reference =>
        {
            if (!release.DefinesArtifact(reference)) return null;
            return release.FindArtifact(reference, architecture) is { } a
                ? new BootArtifact(reference, architecture, a.Sha256, store.Contains(a.Sha256))
                : new BootArtifact(reference, architecture, null, false);
        };
    }

    /// <summary>The role reference (kernel or initrd) of <paramref name="role"/> that resolves to <paramref name="digest"/>, if any.</summary>
    public static string? ReferenceFor(RoleSpec role, ReleaseSpec release, Digest digest) =>
        new[] { role.Boot.Kernel }.Concat(role.Boot.Initrds)
            .FirstOrDefault(r => release.Artifacts.Any(a => a.Name == r && a.Sha256 == digest));
}
