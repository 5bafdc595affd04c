using System.Net;
using System.Security.Cryptography;
using System.Text;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Boot.Qemu;

/// <summary>
/// The test initramfs (scripts/testboot/init) follows a pointer config as Ignition's fetch stage does: it fetches the
/// merge source over HTTPS trusting only the CA the pointer pins, sends Ignition's Accept header, and fails loudly
/// when the server is not the pinned one or refuses the delivery. The kernel and initramfs boot directly in QEMU
/// against a hand-made pointer flow (<see cref="PointerOrigin"/>), so these tests need nothing but the initramfs.
/// </summary>
[Trait(Category.Name, Category.Slow)]
[Trait(Category.Name, Category.Integration)]
public sealed class InitramfsPointerTests
{
    private const string Mac = "52:54:00:12:34:60";
    private const string ReportKey = "k3y-of-the-test-machine";
    private static readonly TimeSpan Budget = TimeSpan.FromMinutes(4);
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>A real config as Provisioner's TLS listener releases it: carries the machine's report key.</summary>
    private static readonly string RealConfig = $$$"""
        {"ignition":{"version":"3.4.0"},"storage":{"files":[
          {"path":"/etc/provisioner/report-key","mode":384,"contents":{"source":"data:,{{{Uri.EscapeDataString(ReportKey + "\n")}}}"}},
          {"path":"/etc/provisioner/provisioner.env","mode":420,"contents":{"source":"data:;base64,{{{Convert.ToBase64String(Encoding.ASCII.GetBytes("PROVISIONER_MACHINE=vm\n"))}}}"}}]}}
        """;

    [Fact]
    public async Task Follows_the_pointer_over_https_trusting_the_pinned_ca_and_reports_with_the_machines_report_key()
    {
        await using var origin = await PointerOrigin.StartAsync(IPAddress.Loopback, RealConfig, Ct);
        origin.Tickets.Add("T1");
        const string query = "mac=52-54-00-12-34-60&ticket=T1";

        await using var vm = await BootAsync(origin, query);
        var verdict = await VerdictAsync(vm);

        Assert.True(verdict.StartsWith("PROVISIONER-REPORTED", StringComparison.Ordinal), $"guest failed: {verdict}\n{vm.Diagnostics()}");
        Assert.Equal(0, await vm.WaitForExitAsync(TimeSpan.FromSeconds(60), Ct));
        Assert.Equal("PROVISIONER-POINTER-SHA256=" + Sha256(origin.Pointer(query)), ConsoleLine(vm, "PROVISIONER-POINTER-SHA256="));
        Assert.Equal("PROVISIONER-IGNITION-SHA256=" + Sha256(RealConfig), ConsoleLine(vm, "PROVISIONER-IGNITION-SHA256="));
        Assert.DoesNotContain(vm.ConsoleLines, l => l.StartsWith("PROVISIONER-", StringComparison.Ordinal) && l.Contains("ticket=", StringComparison.Ordinal));

        var requests = origin.Requests;
        Assert.Equal([(false, "GET", 200), (true, "GET", 200), (false, "POST", 200)], requests.Select(r => (r.Tls, r.Method, r.Status)));
        // Ignition's Accept header on both fetches; the merge source is the pointer's query unchanged.
        foreach (var fetch in requests.Take(2))
            Assert.Equal("application/vnd.coreos.ignition+json;version=3.4.0, */*;q=0.1", fetch.Accept);
        Assert.Equal("/ignition?" + query, requests[1].PathAndQuery);
        Assert.Equal("Bearer " + ReportKey, requests[2].Authorization);
        Assert.Contains($"\"detail\":\"sha256:{Sha256(RealConfig)}\"", requests[2].Body);
    }

    [Fact]
    public async Task A_server_the_pinned_ca_did_not_certify_gets_no_request_and_the_boot_fails_loudly()
    {
        await using var origin = await PointerOrigin.StartAsync(IPAddress.Loopback, RealConfig, Ct);
        origin.Tickets.Add("T2");
        origin.PinnedCaPem = PointerOrigin.UnrelatedCaPem();

        await using var vm = await BootAsync(origin, "mac=52-54-00-12-34-60&ticket=T2");
        var verdict = await VerdictAsync(vm);

        Assert.StartsWith("PROVISIONER-FAILED fetch https://10.0.2.2:", verdict);
        Assert.Contains("certificate", verdict, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain(origin.Requests, r => r.Tls);
        Assert.DoesNotContain(origin.Requests, r => r.Method == "POST");
    }

    [Fact]
    public async Task A_refused_delivery_fails_the_boot_with_the_servers_status_and_reason()
    {
        await using var origin = await PointerOrigin.StartAsync(IPAddress.Loopback, RealConfig, Ct);
        origin.Tickets.Add("T3");
        // Someone else got the config with this ticket first: the machine's own fetch is the second delivery.
        using (var thief = new HttpClient(new HttpClientHandler { ServerCertificateCustomValidationCallback = (_, _, _, _) => true }))
            Assert.Equal(HttpStatusCode.OK, (await thief.GetAsync($"https://127.0.0.1:{origin.TlsPort}/ignition?ticket=T3", Ct)).StatusCode);

        await using var vm = await BootAsync(origin, "mac=52-54-00-12-34-60&ticket=T3");
        var verdict = await VerdictAsync(vm);

        Assert.StartsWith("PROVISIONER-FAILED fetch https://10.0.2.2:", verdict);
        Assert.Contains("HTTP 410: this machine's config was already delivered at", verdict);
        Assert.DoesNotContain(origin.Requests, r => r.Method == "POST");
    }

    private static async Task<QemuVm> BootAsync(PointerOrigin origin, string query)
    {
        Requires.Program("qemu-system-x86_64", "qemu-system-x86");
        var artifacts = await TestBootArtifacts.EnsureAsync(Ct);
        return await QemuVm.StartAsync(new QemuBootOptions
        {
            Mac = Mac,
            // User networking (10.0.2.2 is the host's loopback); the boot file is never asked for.
            BootUrl = $"http://10.0.2.2:{origin.HttpPort}/unused",
            DirectKernel = new QemuDirectKernel(artifacts.Kernel, artifacts.Initramfs,
                $"console=ttyS0,115200n8 quiet ignition.config.url={origin.PointerUrl(query)}"),
        }, Ct);
    }

    private static Task<string> VerdictAsync(QemuVm vm) => vm.WaitForConsoleLineAsync(
        l => l.StartsWith("PROVISIONER-REPORTED", StringComparison.Ordinal) || l.StartsWith("PROVISIONER-FAILED", StringComparison.Ordinal),
        Budget, Ct);

    private static string ConsoleLine(QemuVm vm, string prefix) => vm.ConsoleLines.Single(l => l.StartsWith(prefix, StringComparison.Ordinal));

    private static string Sha256(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));
}
