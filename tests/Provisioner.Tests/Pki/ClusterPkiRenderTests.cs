using System.Net;
using Provisioner.Pki;
using Provisioner.Profiles;

namespace Provisioner.Tests.Pki;

/// <summary>Render behaviour: idempotence, targeted re-issue, CA preservation. In-process only.</summary>
[System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
public sealed class ClusterPkiRenderTests
{
    private static readonly DateTimeOffset Now = new(2030, 6, 1, 12, 0, 0, TimeSpan.Zero);
    private static readonly PkiOptions Options = new() { Clock = new FixedClock(Now) };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static Task<PkiRenderResult> RenderAsync(TempDir dir, ProfileSet? profiles = null, PkiOptions? options = null) =>
        ClusterPki.RenderAsync(ClusterPkiPlan.For(profiles ?? TestProfiles.Standard(), options ?? Options), dir.Path, Ct);

    /// <summary>Every file below the directory with its bytes, mtime and mode.</summary>
    private static Dictionary<string, (string Content, DateTime Mtime, UnixFileMode Mode)> Snapshot(TempDir dir) =>
        Directory.EnumerateFiles(dir.Path, "*", SearchOption.AllDirectories).ToDictionary(
            f => Path.GetRelativePath(dir.Path, f),
            f => (File.ReadAllText(f), File.GetLastWriteTimeUtc(f), File.GetUnixFileMode(f)));

    private static List<string> Changed(
        Dictionary<string, (string Content, DateTime Mtime, UnixFileMode Mode)> before,
        Dictionary<string, (string Content, DateTime Mtime, UnixFileMode Mode)> after) =>
        [.. after.Keys.Union(before.Keys).Where(k => !before.TryGetValue(k, out var b) || !after.TryGetValue(k, out var a) || a != b).Order()];

    [Fact]
    public async Task First_render_creates_everything_with_private_keys_0600()
    {
        using var dir = new TempDir();
        var result = await RenderAsync(dir);
        Assert.All(result.Items, i => Assert.Equal(PkiAction.Created, i.Action));
        Assert.Equal(17, result.Items.Length); // 16 certificates + sa

        var files = Snapshot(dir);
        Assert.Equal(34, files.Count);
        Assert.All(files.Where(f => f.Key.EndsWith(".key", StringComparison.Ordinal)),
            f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, f.Value.Mode));
        Assert.All(files.Where(f => !f.Key.EndsWith(".key", StringComparison.Ordinal)),
            f => Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, f.Value.Mode));
        Assert.Contains("etcd/cp1/server.crt", files.Keys);
        Assert.Contains("sa.pub", files.Keys);
        Assert.DoesNotContain(files.Keys, f => f.Contains(".tmp", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Second_render_with_same_inputs_touches_no_file()
    {
        using var dir = new TempDir();
        await RenderAsync(dir);
        FileTimes.AgeEveryFile(dir.Path); // a rewrite would show in the mtime
        var before = Snapshot(dir);
        var second = await RenderAsync(dir);

        Assert.All(second.Items, i => Assert.Equal(PkiAction.Reused, i.Action));
        Assert.Empty(Changed(before, Snapshot(dir)));
    }

    [Fact]
    public async Task Changed_vip_reissues_only_the_api_server_certificate_and_keeps_its_key()
    {
        using var dir = new TempDir();
        await RenderAsync(dir);
        var before = Snapshot(dir);

        var moved = TestProfiles.Standard(TestProfiles.Cluster(vip: IPAddress.Parse("192.168.50.6")));
        var result = await RenderAsync(dir, moved);

        Assert.Equal(["apiserver"], result.Reissued);
        Assert.Equal("subject alternative names differ", result["apiserver"].Reason);
        Assert.Equal(16, result.Reused.Count());
        Assert.Equal(["apiserver.crt"], Changed(before, Snapshot(dir)));
        var cert = Pem.DecodeCertificate(await File.ReadAllTextAsync(dir["apiserver.crt"], Ct));
        var (_, ips) = ClusterPki.SubjectAltNamesOf(cert);
        Assert.Contains(IPAddress.Parse("192.168.50.6"), ips);
        Assert.DoesNotContain(IPAddress.Parse("192.168.50.5"), ips);
    }

    [Fact]
    public async Task New_control_plane_machine_adds_its_etcd_certificates_and_reissues_the_api_server()
    {
        using var dir = new TempDir();
        await RenderAsync(dir);
        var result = await RenderAsync(dir, TestProfiles.Standard(null, TestProfiles.Machine("cp3", "control-plane", "192.168.50.13")));
        Assert.Equal(["apiserver"], result.Reissued);
        Assert.Equal(["etcd/cp3/server", "etcd/cp3/peer"], result.Created);
    }

    [Fact]
    public async Task Leaves_close_to_expiry_are_renewed_while_cas_and_sa_key_are_kept()
    {
        using var dir = new TempDir();
        await RenderAsync(dir);
        var before = Snapshot(dir);
        var later = Options with { Clock = new FixedClock(Now.AddDays(340)) };
        var result = await RenderAsync(dir, options: later);

        Assert.Equal(["ca", "etcd/ca", "front-proxy-ca", "sa"], result.Reused);
        Assert.Equal(13, result.Reissued.Count());
        Assert.All(result.Items.Where(i => i.Action == PkiAction.Reissued), i => Assert.StartsWith("expires", i.Reason));
        // Only certificates changed: keys are kept, as `kubeadm certs renew` does.
        Assert.All(Changed(before, Snapshot(dir)), f => Assert.EndsWith(".crt", f));
    }

    [Fact]
    public async Task Missing_leaf_key_gets_a_new_key_and_certificate()
    {
        using var dir = new TempDir();
        await RenderAsync(dir);
        var oldCert = await File.ReadAllTextAsync(dir["admin.crt"], Ct);
        File.Delete(dir["admin.key"]);

        var result = await RenderAsync(dir);
        Assert.Equal(["admin"], result.Reissued);
        var key = Pem.DecodePrivateKey(await File.ReadAllTextAsync(dir["admin.key"], Ct));
        var cert = Pem.DecodeCertificate(await File.ReadAllTextAsync(dir["admin.crt"], Ct));
        Assert.True(key.Matches(cert.GetPublicKey()));
        Assert.NotEqual(oldCert, await File.ReadAllTextAsync(dir["admin.crt"], Ct));
    }

    [Fact]
    public async Task Leaf_signed_by_another_ca_is_reissued()
    {
        using var dir = new TempDir();
        await RenderAsync(dir);
        // A client cert from the wrong CA in the API server's place.
        File.Copy(dir["front-proxy-client.crt"], dir["apiserver-kubelet-client.crt"], overwrite: true);
        File.Copy(dir["front-proxy-client.key"], dir["apiserver-kubelet-client.key"], overwrite: true);

        var result = await RenderAsync(dir);
        Assert.Equal(["apiserver-kubelet-client"], result.Reissued);
        Assert.Equal("not signed by the current CA", result["apiserver-kubelet-client"].Reason);
    }

    [Fact]
    public async Task Ca_with_missing_key_is_an_error_and_nothing_is_replaced()
    {
        using var dir = new TempDir();
        await RenderAsync(dir);
        File.Delete(dir["etcd/ca.key"]);
        var before = Snapshot(dir);

        var e = await Assert.ThrowsAsync<PkiException>(() => RenderAsync(dir));
        Assert.Contains("etcd/ca.key is missing", e.Message);
        Assert.Empty(Changed(before, Snapshot(dir)));
    }

    [Fact]
    public async Task Ca_with_a_key_that_does_not_match_is_an_error()
    {
        using var dir = new TempDir();
        await RenderAsync(dir);
        await File.WriteAllTextAsync(dir["ca.key"], Pem.EncodePrivateKey(PkiKeys.Generate(KeyAlgorithm.EcdsaP256)), Ct);
        var before = Snapshot(dir);

        var e = await Assert.ThrowsAsync<PkiException>(() => RenderAsync(dir));
        Assert.Contains("does not belong to certificate", e.Message);
        Assert.Empty(Changed(before, Snapshot(dir)));
    }

    [Fact]
    public async Task Ca_key_without_its_certificate_is_an_error()
    {
        using var dir = new TempDir();
        Directory.CreateDirectory(dir["etcd"]);
        await File.WriteAllTextAsync(dir["etcd/ca.key"], Pem.EncodePrivateKey(PkiKeys.Generate(KeyAlgorithm.EcdsaP256)), Ct);
        var e = await Assert.ThrowsAsync<PkiException>(() => RenderAsync(dir));
        Assert.Contains("certificate", e.Message);
        Assert.False(File.Exists(dir["etcd/ca.crt"]));
    }

    [Fact]
    public async Task Loose_key_file_mode_is_tightened_without_rewriting()
    {
        using var dir = new TempDir();
        await RenderAsync(dir);
        File.SetUnixFileMode(dir["ca.key"], UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var content = await File.ReadAllTextAsync(dir["ca.key"], Ct);
        var mtime = File.GetLastWriteTimeUtc(dir["ca.key"]);

        await RenderAsync(dir);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(dir["ca.key"]));
        Assert.Equal(content, await File.ReadAllTextAsync(dir["ca.key"], Ct));
        Assert.Equal(mtime, File.GetLastWriteTimeUtc(dir["ca.key"]));
    }

    [Fact]
    public async Task Changing_key_algorithm_reissues_leaves_but_keeps_the_cas()
    {
        using var dir = new TempDir();
        var profiles = TestProfiles.Standard();
        await RenderAsync(dir, profiles);
        var result = await RenderAsync(dir, profiles, Options with { KeyAlgorithm = KeyAlgorithm.Rsa2048 });
        Assert.Equal(["ca", "etcd/ca", "front-proxy-ca", "sa"], result.Reused);
        Assert.All(result.Items.Where(i => i.Action == PkiAction.Reissued), i => Assert.Equal("key algorithm differs from the plan", i.Reason));
        var key = Pem.DecodePrivateKey(await File.ReadAllTextAsync(dir["apiserver.key"], Ct));
        Assert.Equal(KeyAlgorithm.Rsa2048, key.Algorithm);
    }

    [Fact]
    public async Task Temp_files_left_by_a_crashed_render_are_removed_and_nothing_else_changes()
    {
        using var dir = new TempDir();
        await RenderAsync(dir);
        var before = Snapshot(dir);
        var stale = dir["etcd/.ca.key.0123456789abcdef0123456789abcdef.tmp"];
        await File.WriteAllTextAsync(stale, "half a key", Ct);
        var unrelated = dir[".operator-notes.tmp"];
        await File.WriteAllTextAsync(unrelated, "not ours", Ct);

        await RenderAsync(dir);
        Assert.False(File.Exists(stale));
        Assert.True(File.Exists(unrelated));
        File.Delete(unrelated);
        Assert.Empty(Changed(before, Snapshot(dir)));
    }

    [Fact]
    public async Task Cancelled_render_writes_nothing()
    {
        using var dir = new TempDir();
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            ClusterPki.RenderAsync(ClusterPkiPlan.For(TestProfiles.Standard(), Options), dir.Path, cts.Token));
        Assert.Empty(Directory.EnumerateFileSystemEntries(dir.Path));
    }
}
