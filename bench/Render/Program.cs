// Times a full cluster render (PKI, kubeconfigs, static pods, manifests, every machine's Ignition) in process,
// so .NET start-up is not counted, plus the key generation alone for comparison with openssl.
// Usage: Render <profiles-dir> <out-dir>
using System.Diagnostics;
using Provisioner.Catalog;
using Provisioner.Cluster;
using Provisioner.Pki;
using Provisioner.Profiles;
using Provisioner.Rendering;
using Provisioner.Tokens;

if (args.Length != 2)
{
    Console.Error.WriteLine("usage: Render <profiles-dir> <out-dir>");
    return 2;
}
var profilesDir = Path.GetFullPath(args[0]);
var outDir = Path.GetFullPath(args[1]);
var templates = Path.Combine(Path.GetDirectoryName(profilesDir)!, "ignition-templates");

var total = Stopwatch.StartNew();
var renderer = new IgnitionRenderer(new TextTemplates());
var load = Stopwatch.StartNew();
var (snapshot, problems) = CatalogLoader.TryLoad(new ProfileSources(profilesDir, templates), renderer, TimeProvider.System);
if (snapshot is null)
{
    foreach (var p in problems) Console.Error.WriteLine(p);
    return 1;
}
load.Stop();
var options = new ClusterRenderOptions();
var tokens = await BootstrapTokenStore.OpenAsync(ClusterRenderer.TokenFile(outDir), TimeProvider.System, options.TokenLifetime, CancellationToken.None);
var render = Stopwatch.StartNew();
var result = await ClusterRenderer.RenderAsync(snapshot.Profiles, snapshot.Templates, renderer, outDir, tokens,
    snapshot.Profiles.Cluster.ProvisionerUrl ?? CatalogLoader.PlaceholderBaseUrl, options, CancellationToken.None);
render.Stop();
total.Stop();

// The same number of P-256 keys alone, to see how much of the render is key generation.
var keys = result.Pki.Items.Count(i => i.Action == PkiAction.Created);
var keygen = Stopwatch.StartNew();
for (var i = 0; i < keys; i++) PkiKeys.Generate(KeyAlgorithm.EcdsaP256);
keygen.Stop();

if (Environment.GetEnvironmentVariable("BENCH_PROFILE") == "1")
{
    var worker = snapshot.Profiles.Machines.First(m => m.Role == "worker");
    var url = new Uri("http://192.0.2.1:8080/");
    void Time(string what, Action a)
    {
        a();
        var sw = Stopwatch.StartNew();
        for (var i = 0; i < 5; i++) a();
        Console.WriteLine($"profile {what}: {sw.Elapsed.TotalMilliseconds / 5:0.00} ms");
    }
    var material = MachineMaterial.Placeholder(snapshot.Profiles, worker);
    Time("profile loader", () => ProfileLoader.TryLoad(new ProfileSources(profilesDir, templates)));
    Time("catalog load", () => CatalogLoader.TryLoad(new ProfileSources(profilesDir, templates), renderer, TimeProvider.System));
    var pki = new PkiOptions();
    var topo = ClusterTopology.For(snapshot.Profiles, pki);
    var placeholderTls = TlsMaterial.Placeholders(ClusterPkiPlan.For(snapshot.Profiles, pki));
    var fakeTokens = snapshot.Profiles.Machines.Where(topo.JoinsWithToken).Select(m => MachineMaterial.PlaceholderToken(m.Name)).ToList();
    Time("asset set build", () => ClusterAssetSet.Build(topo, placeholderTls, fakeTokens));
    var set = ClusterAssetSet.Build(topo, placeholderTls, fakeTokens);
    var boot = snapshot.Profiles.Machines.First(m => m.Role == "bootstrap");
    var bootMaterial = MachineMaterial.For(set, boot, null);
    Time("bootstrap ignition files", () => bootMaterial.IgnitionFiles());
    Time("render bootstrap", () => renderer.Render(snapshot.Templates, snapshot.Profiles, boot, url, bootMaterial));
    Time("validate bootstrap", () => Provisioner.Ignition.IgnitionValidator.Validate(renderer.Render(snapshot.Templates, snapshot.Profiles, boot, url, bootMaterial)));
    Time("placeholder material", () => MachineMaterial.Placeholder(snapshot.Profiles, worker));
    Time("ignition files", () => material.IgnitionFiles());
    Time("template values", () => TemplateValues.For(snapshot.Profiles, worker, url, material));
    Time("render worker", () => renderer.Render(snapshot.Templates, snapshot.Profiles, worker, url, material));
    Time("serialize", () => Provisioner.Ignition.IgnitionJson.Serialize(renderer.Render(snapshot.Templates, snapshot.Profiles, worker, url, material)));
    Time("kubeconfig", () => Kubeconfigs.ForToken("demo", "https://x:6443", "ca", "u", "abcdef.0123456789abcdef"));
    Time("validate", () => Provisioner.Ignition.IgnitionValidator.Validate(renderer.Render(snapshot.Templates, snapshot.Profiles, worker, url, material)));
}
// The same again into a fresh directory: the first run pays .NET's JIT for YamlDotNet, Fluid, BouncyCastle…;
// the second shows the steady-state cost (what a long-running `serve` pays on a profile reload).
var warm = Stopwatch.StartNew();
var (again, _) = CatalogLoader.TryLoad(new ProfileSources(profilesDir, templates), renderer, TimeProvider.System);
var warmLoad = warm.Elapsed;
var warmDir = outDir + "-warm";
var warmTokens = await BootstrapTokenStore.OpenAsync(ClusterRenderer.TokenFile(warmDir), TimeProvider.System, options.TokenLifetime, CancellationToken.None);
await ClusterRenderer.RenderAsync(again!.Profiles, again.Templates, renderer, warmDir, warmTokens,
    again.Profiles.Cluster.ProvisionerUrl ?? CatalogLoader.PlaceholderBaseUrl, options, CancellationToken.None);
warm.Stop();

// PKI alone (keys, signatures, 38 fsync'ed files) into a fresh directory, to split render_ms.
var pkiOnly = Stopwatch.StartNew();
await ClusterPki.RenderAsync(ClusterPkiPlan.For(snapshot.Profiles, options.Pki), outDir + "-pki-only", CancellationToken.None);
pkiOnly.Stop();

Console.WriteLine($"machines={snapshot.Profiles.Machines.Length} keys={keys} files_written={result.Written.Length}");
Console.WriteLine($"warm_pki_only_ms={pkiOnly.Elapsed.TotalMilliseconds:0}");
Console.WriteLine($"warm_load_and_validate_ms={warmLoad.TotalMilliseconds:0}");
Console.WriteLine($"warm_load_and_render_ms={warm.Elapsed.TotalMilliseconds:0}");
Console.WriteLine($"load_and_validate_ms={load.Elapsed.TotalMilliseconds:0}");
Console.WriteLine($"render_ms={render.Elapsed.TotalMilliseconds:0}");
Console.WriteLine($"total_in_process_ms={total.Elapsed.TotalMilliseconds:0}");
Console.WriteLine($"keygen_only_ms={keygen.Elapsed.TotalMilliseconds:0}");
return 0;
