using Provisioner.Catalog;
using Provisioner.Cluster;
using Provisioner.Rendering;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Cluster;

/// <summary>Validation renders (every machine at load) use placeholders: no keys generated, no token minted.</summary>
public sealed class ValidationRenderTests : IDisposable
{
    private readonly ProfileTree _tree = new();

    public void Dispose() => _tree.Dispose();

    [Fact]
    public void Loading_the_catalog_mints_no_token_and_writes_no_cluster_directory()
    {
        var (snapshot, problems) = CatalogLoader.TryLoad(_tree.Sources, new IgnitionRenderer(new TextTemplates()), TimeProvider.System);
        Assert.True(snapshot is not null, string.Join("\n", problems));
        Assert.False(Directory.Exists(Path.Combine(_tree.Root, "cluster")));
    }

    [Fact]
    public void Placeholder_material_has_the_real_shape_with_a_placeholder_token()
    {
        var (snapshot, _) = CatalogLoader.TryLoad(_tree.Sources, new IgnitionRenderer(new TextTemplates()), TimeProvider.System);
        var worker = snapshot!.Profiles.FindMachine("worker-0")!;
        var material = MachineMaterial.Placeholder(snapshot.Profiles, worker);
        Assert.Equal("000000.0000000000000000", material.Token!.Value);
        Assert.Equal(["/etc/kubernetes/pki/ca.crt", "/etc/kubernetes/bootstrap-kubelet.kubeconfig"], material.Files.Select(f => f.Path));
        Assert.DoesNotContain("PRIVATE KEY", string.Concat(material.Files.Select(f => f.Content)));
    }

    [Fact]
    public void A_template_using_a_misspelt_cluster_value_fails_validation_with_its_location()
    {
        _tree.WriteTemplate("worker/kubelet.service", "[Service]\nExecStart=/usr/bin/kubelet --x={{ machine.bootstrap_kubeconfg }}\n");
        var (snapshot, problems) = CatalogLoader.TryLoad(_tree.Sources, new IgnitionRenderer(new TextTemplates()), TimeProvider.System);
        Assert.Null(snapshot);
        Assert.Contains(problems, p => p.ToString().Contains("worker/kubelet.service", StringComparison.Ordinal)
                                       && p.ToString().Contains("'machine.bootstrap_kubeconfg' is not defined", StringComparison.Ordinal));
    }
}
