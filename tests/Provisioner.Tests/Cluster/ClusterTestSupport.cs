using System.Text;
using System.Text.Json;
using Provisioner.Cluster;
using Provisioner.Ignition;
using Provisioner.Profiles;
using Provisioner.Rendering;
using Provisioner.Tests.Support;
using Provisioner.Tokens;
using Provisioner.Catalog;

namespace Provisioner.Tests.Cluster;

/// <summary>A copy of the example profiles rendered into a cluster directory beside them (as serve would).</summary>
internal sealed class RenderedCluster : IDisposable
{
    /// <summary>A profile file that makes the example's one control-plane machine (cp-0) three.</summary>
    public const string TwoMoreControlPlaneMachines = """
        machines:
          - name: cp-1
            role: control-plane
            select: {mac: 52:54:00:00:20:11}
            network: {address: 192.0.2.22/24}
          - name: cp-2
            role: control-plane
            select: {mac: 52:54:00:00:20:12}
            network: {address: 192.0.2.23/24}
        """;

    public ProfileTree Tree { get; } = new();
    public string Dir => Path.Combine(Tree.Root, "cluster");
    public ProfileSet Profiles { get; private set; } = null!;
    public ClusterRenderResult Result { get; private set; } = null!;
    public BootstrapTokenStore Tokens { get; private set; } = null!;

    public string this[string relative] => Path.Combine(Dir, relative);

    public static async Task<RenderedCluster> CreateAsync(Action<ProfileTree>? edit = null)
    {
        var rc = new RenderedCluster();
        edit?.Invoke(rc.Tree);
        await rc.RenderAsync();
        return rc;
    }

    public async Task<ClusterRenderResult> RenderAsync()
    {
        var ct = TestContext.Current.CancellationToken;
        var renderer = new IgnitionRenderer(new TextTemplates());
        var (snapshot, problems) = Provisioner.Catalog.CatalogLoader.TryLoad(Tree.Sources, renderer, TimeProvider.System);
        Assert.True(snapshot is not null, string.Join("\n", problems));
        Profiles = snapshot.Profiles;
        var options = new ClusterRenderOptions();
        Tokens = await BootstrapTokenStore.OpenAsync(ClusterRenderer.TokenFile(Dir), TimeProvider.System, options.TokenLifetime, ct);
        Result = await ClusterRenderer.RenderAsync(snapshot.Profiles, snapshot.Templates, renderer, Dir, Tokens,
            new Uri("http://192.0.2.1:8080/"), options, ct);
        return Result;
    }

    public string Read(string relative) => File.ReadAllText(this[relative]);

    public IEnumerable<string> FilesUnder(string relative) =>
        Directory.EnumerateFiles(this[relative], "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal);

    public void Dispose() => Tree.Dispose();
}

/// <summary>A file of a decoded Ignition config: what the machine will have on disk.</summary>
internal sealed record IgnitionFile(string Path, string Text, int Mode);

internal static class IgnitionFiles
{
    /// <summary>Every <c>storage.files</c> entry decoded (data URLs, gunzipped), by path.</summary>
    public static IReadOnlyDictionary<string, IgnitionFile> Decode(string json)
    {
        var config = IgnitionJson.Deserialize(json);
        return (config.Storage?.Files ?? []).ToDictionary(f => f.Path,
            f => new IgnitionFile(f.Path, Encoding.UTF8.GetString(DataUrl.Decode(f.Contents!)), f.Mode ?? 420), StringComparer.Ordinal);
    }

    /// <summary>Every file's decoded text, concatenated: for asserting what a config carries anywhere in its files.</summary>
    public static string DecodeAll(string json) => string.Join('\n', Decode(json).Values.Select(f => f.Text));

    public static string Unit(string json, string name)
    {
        using var doc = JsonDocument.Parse(json);
        return doc.RootElement.GetProperty("systemd").GetProperty("units").EnumerateArray()
            .Single(u => u.GetProperty("name").GetString() == name).GetProperty("contents").GetString()!;
    }
}
