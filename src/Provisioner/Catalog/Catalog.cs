using Provisioner.Ignition;
using Provisioner.Profiles;
using Provisioner.Rendering;

namespace Provisioner.Catalog;

/// <summary>
/// One consistent, validated view of the operator's files: profiles plus Ignition templates.
/// Requests read a single snapshot, so a reload never mixes old profiles with new templates.
/// </summary>
internal sealed record CatalogSnapshot(ProfileSet Profiles, IgnitionTemplateSet Templates, DateTimeOffset LoadedAt);

internal static class CatalogLoader
{
    /// <summary>The base URL used to try-render every machine when no provisionerUrl is configured.</summary>
    public static readonly Uri PlaceholderBaseUrl = new("http://provisioner.invalid:8080/");

    /// <summary>
    /// Loads profiles and templates and renders every machine's Ignition once, so that a template typo
    /// or an invalid config is a load-time error naming the file, not a failed boot later.
    /// </summary>
    public static (CatalogSnapshot? Snapshot, IReadOnlyList<ProfileDiagnostic> Diagnostics) TryLoad(
        ProfileSources sources, IgnitionRenderer renderer, TimeProvider time)
    {
        var (profiles, diagnostics) = ProfileLoader.TryLoad(sources);
        var problems = diagnostics.ToList();
        IgnitionTemplateSet? templates = null;
        try { templates = IgnitionTemplateSet.Load(sources.TemplatesDirectory); }
        catch (Exception e) when (e is TemplateException or IOException or UnauthorizedAccessException)
        {
            problems.Add(new ProfileDiagnostic(sources.TemplatesDirectory, 0, 0, "ignition-templates", e.Message));
        }
        if (profiles is null || templates is null) return (null, problems);

        foreach (var machine in profiles.Machines)
        {
            var field = $"machines[{machine.Name}].ignition";
            try
            {
                var config = renderer.Render(templates, profiles, machine, profiles.Cluster.ProvisionerUrl ?? PlaceholderBaseUrl);
                foreach (var problem in IgnitionValidator.Validate(config).Where(p => p.Severity == IgnitionSeverity.Error))
                    problems.Add(new ProfileDiagnostic(TemplatePathOf(templates, profiles, machine), 0, 0, field,
                        $"rendered Ignition is invalid at {problem.Path}: {problem.Message}"));
            }
            catch (TemplateException e)
            {
                problems.Add(new ProfileDiagnostic(Relative(e.Location.File), e.Location.Line, e.Location.Column, field, e.Reason));
            }
        }
        return problems.Count > 0 ? (null, problems) : (new CatalogSnapshot(profiles, templates, time.GetUtcNow()), problems);
    }

    private static string TemplatePathOf(IgnitionTemplateSet templates, ProfileSet profiles, MachineSpec machine) =>
        Relative(templates.Templates[profiles.Roles[machine.Role].IgnitionTemplate].ConfigPath);

    private static string Relative(string path) => ProfileLoader.DisplayPath(path);
}
