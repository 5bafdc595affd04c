using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Provisioner.Boot;
using Provisioner.Pki;
using Provisioner.Tests.Cluster;
using Provisioner.Tests.Ignition;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Security;

/// <summary>
/// A machine's secrets as an attacker on the provisioning network meets them, with real clients against the real
/// server: plain HTTP serves only the pointer; the real config needs a ticket from /ipxe, goes over TLS once per
/// provisioning round, and progress reports need the report key it carries.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class SecretDeliveryTests
{
    private const string Worker = "52-54-00-00-30-01", WorkerName = "worker-0";
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string ClusterDirectory(ProfileTree tree) => Path.Combine(tree.Root, "cluster");

    [Fact]
    public async Task Plain_http_serves_a_pointer_that_pins_the_provisioner_ca_and_holds_no_secret()
    {
        using var tree = new ProfileTree();
        await using var server = await RunningServer.StartAsync(tree);

        var url = await server.IgnitionUrlAsync("mac=52-54-00-00-10-01", Ct);
        var pointer = await server.PointerAsync(url, Ct);

        Assert.Equal("http", url.Scheme);
        Assert.Contains("ticket=", url.Query);
        Assert.Equal($"https://192.0.2.1:{server.Server.TlsBaseAddress.Port}/ignition{url.Query}", pointer.DeclaredSource.ToString());
        Assert.Equal(await File.ReadAllTextAsync(Path.Combine(ClusterDirectory(tree), "tls", "provisioner-ca.crt"), Ct), pointer.CaPem);
        Assert.DoesNotContain("PRIVATE KEY", pointer.Json);
        Assert.DoesNotContain("storage", pointer.Json);
        Assert.True(pointer.Json.Length < 2048, pointer.Json);
    }

    [Theory]
    [InlineData("3.3.0")]
    [InlineData("3.4.0")]
    public async Task The_pointer_passes_the_ignition_schema_in_the_negotiated_version(string version)
    {
        using var tree = new ProfileTree();
        await using var server = await RunningServer.StartAsync(tree);

        var pointer = await server.PointerAsync(await server.IgnitionUrlAsync($"mac={Worker}", Ct), Ct,
            accept: $"application/vnd.coreos.ignition+json;version={version}, */*;q=0.1");

        Assert.Equal(version, pointer.Version);
        await IgnitionSchema.AssertValidAsync(pointer.Json, version);
    }

    [Fact]
    public async Task The_real_config_over_tls_carries_the_secrets_the_report_key_and_where_to_report()
    {
        using var tree = new ProfileTree();
        await using var server = await RunningServer.StartAsync(tree);

        var files = IgnitionFiles.Decode(await server.RealConfigAsync($"mac={Worker}", Ct));

        Assert.Contains("/etc/kubernetes/bootstrap-kubelet.kubeconfig", files.Keys);
        var key = files["/etc/provisioner/report-key"];
        Assert.Equal(Convert.ToInt32("600", 8), key.Mode);
        Assert.Matches("^[A-Za-z0-9_-]{32}\n$", key.Text);
        Assert.Equal($"PROVISIONER_URL=http://192.0.2.1:8080\nPROVISIONER_MACHINE={WorkerName}\n", // the profiles' provisionerUrl
            files["/etc/provisioner/provisioner.env"].Text);
    }

    [Fact]
    public async Task Without_a_ticket_the_real_config_is_403_with_the_reason()
    {
        using var tree = new ProfileTree();
        await using var server = await RunningServer.StartAsync(tree);
        var pointer = await server.PointerAsync(new Uri(server.BaseAddress, $"/ignition?mac={Worker}"), Ct);

        using var response = await SecureIgnition.FetchMergedAsync(pointer, Ct);
        using var forged = await SecureIgnition.FetchMergedAsync(pointer with { MergeSource = new Uri(pointer.MergeSource + "&ticket=" + new string('A', 32)) }, Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("no ticket", await response.Content.ReadAsStringAsync(Ct));
        Assert.Equal(HttpStatusCode.Forbidden, forged.StatusCode);
        Assert.Contains("not one /ipxe issued", await forged.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task A_second_fetch_in_the_same_round_is_410_naming_when_and_where_and_is_counted()
    {
        using var tree = new ProfileTree();
        await using var server = await RunningServer.StartAsync(tree);
        var pointer = await server.PointerAsync(await server.IgnitionUrlAsync($"mac={Worker}", Ct), Ct);
        using var first = await SecureIgnition.FetchMergedAsync(pointer, Ct);

        using var sameTicket = await SecureIgnition.FetchMergedAsync(pointer, Ct);
        var freshPointer = await server.PointerAsync(await server.IgnitionUrlAsync($"mac={Worker}", Ct), Ct);
        using var freshTicket = await SecureIgnition.FetchMergedAsync(freshPointer, Ct);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.Gone, sameTicket.StatusCode);
        Assert.Equal(HttpStatusCode.Gone, freshTicket.StatusCode);
        var reason = await freshTicket.Content.ReadAsStringAsync(Ct);
        Assert.Contains("already released in this provisioning round", reason);
        Assert.Contains("to 127.0.0.1", reason);
        Assert.Contains($"provisioner machines reprovision {WorkerName}", reason);
        var metrics = await server.Client.GetStringAsync("/metrics", Ct);
        Assert.Contains($"provisioner_secret_redelivery_refused_total{{machine=\"{WorkerName}\"}} 2", metrics);
    }

    [Fact]
    public async Task After_reprovision_the_config_is_released_once_more_with_a_new_report_key()
    {
        using var tree = new ProfileTree();
        await using var server = await RunningServer.StartAsync(tree);
        var before = IgnitionFiles.Decode(await server.RealConfigAsync($"mac={Worker}", Ct));
        var staleTicket = await server.PointerAsync(await server.IgnitionUrlAsync($"mac={Worker}", Ct), Ct);

        await server.ReprovisionAsync(WorkerName, Ct);
        using var stale = await SecureIgnition.FetchMergedAsync(staleTicket, Ct);
        var after = IgnitionFiles.Decode(await server.RealConfigAsync($"mac={Worker}", Ct));
        using var again = await SecureIgnition.FetchMergedAsync(await server.PointerAsync(await server.IgnitionUrlAsync($"mac={Worker}", Ct), Ct), Ct);

        Assert.Equal(HttpStatusCode.Forbidden, stale.StatusCode);
        Assert.Contains("before worker-0's current provisioning round", await stale.Content.ReadAsStringAsync(Ct));
        Assert.NotEqual(before["/etc/provisioner/report-key"].Text, after["/etc/provisioner/report-key"].Text);
        Assert.Equal(HttpStatusCode.Gone, again.StatusCode);
    }

    [Fact]
    public async Task A_machine_whose_armed_window_passed_gets_403_saying_how_to_rearm_it()
    {
        using var tree = new ProfileTree();
        await using var server = await RunningServer.StartAsync(tree, o => o with { Delivery = new DeliveryOptions { ArmedWindow = TimeSpan.Zero } });

        using var response = await SecureIgnition.FetchMergedAsync(await server.PointerAsync(await server.IgnitionUrlAsync($"mac={Worker}", Ct), Ct), Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        var reason = await response.Content.ReadAsStringAsync(Ct);
        Assert.Contains("not armed", reason);
        Assert.Contains($"provisioner machines reprovision {WorkerName}", reason);
    }

    [Fact]
    public async Task An_expired_ticket_is_403()
    {
        using var tree = new ProfileTree();
        await using var server = await RunningServer.StartAsync(tree, o => o with { Delivery = new DeliveryOptions { TicketLifetime = TimeSpan.Zero, InstallTicketLifetime = TimeSpan.Zero } });

        using var response = await SecureIgnition.FetchMergedAsync(await server.PointerAsync(await server.IgnitionUrlAsync($"mac={Worker}", Ct), Ct), Ct);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("expired", await response.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task Progress_needs_the_machines_report_key()
    {
        using var tree = new ProfileTree();
        await using var server = await RunningServer.StartAsync(tree);
        async Task<(HttpStatusCode, string)> PostAsync(string? key, string machine = WorkerName)
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/progress")
            {
                Content = new StringContent($$"""{"machine":"{{machine}}","stage":"kubelet","detail":"started"}""", Encoding.UTF8, "application/json"),
            };
            if (key is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            using var response = await server.Client.SendAsync(request, Ct);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
        }

        var beforeDelivery = await PostAsync(new string('A', 32));
        var workerKey = IgnitionFiles.Decode(await server.RealConfigAsync($"mac={Worker}", Ct))["/etc/provisioner/report-key"].Text.Trim();
        var anonymous = await PostAsync(null);
        var forged = await PostAsync(new string('A', 32));
        var anotherMachine = await PostAsync(workerKey, "cp-0");
        var right = await PostAsync(workerKey);

        Assert.Equal(HttpStatusCode.Unauthorized, beforeDelivery.Item1);
        Assert.Contains("no report key yet", beforeDelivery.Item2);
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.Item1);
        Assert.Contains("Authorization: Bearer", anonymous.Item2);
        Assert.Equal(HttpStatusCode.Unauthorized, forged.Item1);
        Assert.Equal(HttpStatusCode.Unauthorized, anotherMachine.Item1);
        Assert.Equal(HttpStatusCode.NoContent, right.Item1);
        Assert.Contains((await server.MachineAsync(WorkerName, Ct)).GetProperty("history").EnumerateArray(), e => e.GetProperty("stage").GetString() == "kubelet");
    }

    [Fact]
    public async Task Curl_with_the_provisioner_ca_fetches_the_merged_config_over_tls()
    {
        var curl = Requires.Program("curl", "curl");
        using var tree = new ProfileTree();
        await using var server = await RunningServer.StartAsync(tree);
        var pointer = await server.PointerAsync(await server.IgnitionUrlAsync($"mac={Worker}", Ct), Ct);
        var ca = Path.Combine(ClusterDirectory(tree), "tls", "provisioner-ca.crt");

        var withoutCa = await RunAsync(curl, "-sS", "-o", "/dev/null", "-w", "%{http_code}", pointer.MergeSource.ToString());
        var withCa = await RunAsync(curl, "-sS", "--fail", "--cacert", ca, pointer.MergeSource.ToString());

        Assert.NotEqual(0, withoutCa.Exit); // not trusted without the pinned CA
        Assert.True(withCa.Exit == 0, withCa.Error);
        Assert.Contains("\"/etc/provisioner/report-key\"", withCa.Output);
        Assert.Contains("\"/etc/kubernetes/bootstrap-kubelet.kubeconfig\"", withCa.Output);
    }

    [Fact]
    public async Task The_serving_certificate_names_every_listen_address_and_localhost()
    {
        var openssl = Requires.Program("openssl", "openssl");
        using var tree = new ProfileTree();
        await using var server = await RunningServer.StartAsync(tree);

        var text = await RunAsync(openssl, "x509", "-noout", "-ext", "subjectAltName", "-in", Path.Combine(ClusterDirectory(tree), "tls", "provisioner-serving.crt"));

        Assert.Contains("DNS:localhost", text.Output);
        Assert.Contains("IP Address:127.0.0.1", text.Output);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(ClusterDirectory(tree), "tls", "provisioner-ca.key")));
    }

    [Fact]
    public async Task A_crash_between_the_ca_key_and_its_certificate_recovers_on_the_next_start()
    {
        using var tree = new ProfileTree();
        var tls = Path.Combine(ClusterDirectory(tree), "tls");
        await using (await RunningServer.StartAsync(tree)) { }
        var key = await File.ReadAllTextAsync(Path.Combine(tls, "provisioner-ca.key"), Ct);
        File.Delete(Path.Combine(tls, "provisioner-ca.crt")); // as if killed after the key was written
        File.Delete(Path.Combine(tls, "provisioner-serving.crt"));

        await using var server = await RunningServer.StartAsync(tree);
        var pointer = await server.PointerAsync(await server.IgnitionUrlAsync($"mac={Worker}", Ct), Ct);
        using var response = await SecureIgnition.FetchMergedAsync(pointer, Ct);

        Assert.Equal(key, await File.ReadAllTextAsync(Path.Combine(tls, "provisioner-ca.key"), Ct));
        Assert.True(Pem.DecodePrivateKey(key).Matches(Pem.DecodeCertificate(pointer.CaPem).GetPublicKey()));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task<(int Exit, string Output, string Error)> RunAsync(string program, params string[] args)
    {
        var psi = new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(psi)!;
        var output = process.StandardOutput.ReadToEndAsync(Ct);
        var error = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        return (process.ExitCode, await output, await error);
    }
}
