using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using Provisioner.Ignition;
using Provisioner.Pki;
using Provisioner.Tests.Ignition;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Cluster;

/// <summary>
/// Fetches every role's Ignition from the running server, finds every private key in it (PEM files and keys
/// embedded base64 in kubeconfigs) and names each by the cluster-directory key it is.
/// </summary>
public sealed partial class KeyDistributionTests : IAsyncLifetime
{
    private readonly ProfileTree _tree = new();
    private RunningServer _server = null!;
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private string ClusterDir => Path.Combine(_tree.Root, "cluster");

    public async ValueTask InitializeAsync()
    {
        _tree.Write("more.yaml", RenderedCluster.TwoMoreControlPlaneMachines);
        _server = await RunningServer.StartAsync(_tree);
    }

    public async ValueTask DisposeAsync()
    {
        await _server.DisposeAsync();
        _tree.Dispose();
    }

    private async Task<string> IgnitionAsync(string mac)
    {
        return await _server.RealConfigAsync($"mac={mac}", Ct, "application/vnd.coreos.ignition+json;version=3.4.0");
    }

    /// <summary>Names (below tls/) of every private key found anywhere in the config.</summary>
    private SortedSet<string> KeysIn(string json)
    {
        var known = Directory.EnumerateFiles(Path.Combine(ClusterDir, "tls"), "*.key", SearchOption.AllDirectories)
            .ToDictionary(f => Fingerprint(Pem.DecodePrivateKey(File.ReadAllText(f))), f => Path.GetRelativePath(Path.Combine(ClusterDir, "tls"), f)[..^4]);
        var found = new SortedSet<string>(StringComparer.Ordinal);
        var texts = IgnitionFiles.Decode(json).Values.Select(f => f.Text).ToList();
        var config = IgnitionJson.Deserialize(json);
        texts.AddRange((config.Systemd?.Units ?? []).Select(u => u.Contents ?? ""));
        foreach (var text in texts)
            foreach (var pem in PrivateKeyBlocks(text))
            {
                var fingerprint = Fingerprint(Pem.DecodePrivateKey(pem));
                found.Add(known.TryGetValue(fingerprint, out var name) ? name : "UNKNOWN KEY " + fingerprint);
            }
        return found;
    }

    /// <summary>PEM private keys in the text itself or inside base64 values (kubeconfig client-key-data).</summary>
    private static IEnumerable<string> PrivateKeyBlocks(string text)
    {
        foreach (Match m in PemPrivateKey().Matches(text)) yield return m.Value;
        foreach (Match m in Base64Run().Matches(text))
        {
            string decoded;
            try { decoded = Encoding.ASCII.GetString(Convert.FromBase64String(m.Value)); }
            catch (FormatException) { continue; }
            foreach (Match inner in PemPrivateKey().Matches(decoded)) yield return inner.Value;
        }
        Assert.DoesNotContain("PRIVATE KEY-----", PemPrivateKey().Replace(text, ""));
    }

    private static string Fingerprint(PkiKeyPair key) => Pem.EncodePublicKey(key);

    [GeneratedRegex("-----BEGIN ([A-Z]+ )?PRIVATE KEY-----[\\s\\S]+?-----END ([A-Z]+ )?PRIVATE KEY-----")]
    private static partial Regex PemPrivateKey();

    [GeneratedRegex("[A-Za-z0-9+/]{100,}={0,2}")]
    private static partial Regex Base64Run();

    private static readonly string[] SharedControlPlaneKeys =
        ["apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "ca", "controller-manager", "front-proxy-client", "sa", "scheduler"];

    [Fact]
    public async Task Worker_gets_no_private_key_of_any_kind()
    {
        var json = await IgnitionAsync("52:54:00:00:30:01");
        Assert.Empty(KeysIn(json));
        var files = IgnitionFiles.Decode(json);
        Assert.Equal(File.ReadAllText(Path.Combine(ClusterDir, "tls/ca.crt")), files["/etc/kubernetes/pki/ca.crt"].Text);
        Assert.Contains("/etc/kubernetes/bootstrap-kubelet.kubeconfig", files.Keys);
        Assert.DoesNotContain(files.Keys, p => p.EndsWith(".key", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Control_plane_machine_gets_only_its_own_etcd_keys_and_the_shared_control_plane_keys()
    {
        foreach (var (machine, mac) in new[] { ("cp-0", "52:54:00:00:20:01"), ("cp-1", "52:54:00:00:20:11") })
        {
            var keys = KeysIn(await IgnitionAsync(mac));
            Assert.Equal([.. SharedControlPlaneKeys.Append($"etcd/{machine}/peer").Append($"etcd/{machine}/server").Order(StringComparer.Ordinal)], keys.Order(StringComparer.Ordinal));
        }
    }

    [Fact]
    public async Task Bootstrap_gets_what_its_temporary_control_plane_and_bootkube_need_and_no_etcd_or_front_proxy_ca_key()
    {
        var keys = KeysIn(await IgnitionAsync("52:54:00:00:10:01"));
        Assert.Equal([.. SharedControlPlaneKeys.Append("admin").Order(StringComparer.Ordinal)], keys.Order(StringComparer.Ordinal));
        Assert.DoesNotContain("etcd/ca", keys);
        Assert.DoesNotContain("front-proxy-ca", keys);
        Assert.DoesNotContain("provisioner-approver", keys);
    }

    [Fact]
    public async Task Every_role_config_is_valid_against_the_3_4_0_schema_and_ignitions_rules()
    {
        foreach (var mac in new[] { "52:54:00:00:10:01", "52:54:00:00:20:01", "52:54:00:00:30:01" })
        {
            var json = await IgnitionAsync(mac);
            await IgnitionSchema.AssertValidAsync(json, "3.4.0");
            Assert.DoesNotContain(IgnitionValidator.Validate(json), p => p.Severity == IgnitionSeverity.Error);
        }
    }

    [Fact]
    public async Task Key_files_are_written_0600_and_big_files_travel_gzip_compressed()
    {
        var json = await IgnitionAsync("52:54:00:00:10:01");
        var files = IgnitionFiles.Decode(json);
        Assert.All(files.Values.Where(f => f.Path.EndsWith(".key", StringComparison.Ordinal) || f.Path.EndsWith(".kubeconfig", StringComparison.Ordinal)),
            f => Assert.Equal(384, f.Mode));
        var config = IgnitionJson.Deserialize(json);
        var bootkube = config.Storage!.Files!.Single(f => f.Path == "/usr/local/bin/bootkube.sh");
        Assert.Equal("gzip", bootkube.Contents!.Compression);
        Assert.Equal(493, bootkube.Mode);
    }

    [Fact]
    public async Task Served_bootstrap_kubeconfig_carries_the_token_the_store_holds_for_that_machine()
    {
        var files = IgnitionFiles.Decode(await IgnitionAsync("52:54:00:00:30:01"));
        var store = await Provisioner.Tokens.BootstrapTokenStore.OpenAsync(
            Path.Combine(ClusterDir, "auth", "bootstrap-tokens.json"), TimeProvider.System, TimeSpan.FromHours(24), Ct);
        var token = store.FindForMachine("worker-0");
        Assert.NotNull(token);
        Assert.Contains($"token: \"{token.Value}\"", files["/etc/kubernetes/bootstrap-kubelet.kubeconfig"].Text);
        var secrets = IgnitionFiles.Decode(await IgnitionAsync("52:54:00:00:10:01"))["/opt/provisioner/manifests/0001-bootstrap-tokens.yaml"].Text;
        Assert.Contains($"name: bootstrap-token-{token.Id}", secrets);
    }
}
