using System.Text;
using System.Text.Json;
using OpenQA.Selenium;
using OpenQA.Selenium.Chrome;
using OpenQA.Selenium.Support.UI;
using Provisioner.Tests.Support;
using Provisioner.WebConsole;

namespace Provisioner.Tests.WebConsole;

/// <summary>
/// The console in a real browser (Debian's headless Chromium, driven by chromedriver through Selenium): the board
/// fills, changes live as a machine boots, shows a discovered machine, the approver, a stuck machine, and logs no
/// error. Leaves a screenshot at <c>.artifacts/test-results/console.png</c>.
/// </summary>
[Trait(Category.Name, Category.Integration)]
public sealed class ConsoleBrowserTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ChromeDriver StartBrowser()
    {
        var driverPath = Requires.Program("chromedriver", "chromium-driver");
        var browserPath = Requires.Program("chromium", "chromium");
        var service = ChromeDriverService.CreateDefaultService(Path.GetDirectoryName(driverPath)!, Path.GetFileName(driverPath));
        service.SuppressInitialDiagnosticInformation = true;
        service.HideCommandPromptWindow = true;
        var options = new ChromeOptions { BinaryLocation = browserPath };
        // --no-sandbox: tests run as root (CI does), where Chromium's sandbox refuses to start.
        options.AddArguments("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1500,1500", "--lang=en-US");
        options.SetLoggingPreference(LogType.Browser, LogLevel.All);
        return new ChromeDriver(service, options, TimeSpan.FromSeconds(60));
    }

    [Fact]
    public async Task The_board_follows_a_bring_up_live_in_a_real_browser()
    {
        using var tree = new ProfileTree();
        // A short stuck threshold, so the test sees the mark appear without waiting ten minutes.
        await using var server = await RunningServer.StartAsync(tree, o => o with { Console = new ConsoleOptions { StuckAfter = TimeSpan.FromSeconds(4) } });
        using var driver = StartBrowser();
        var wait = new WebDriverWait(driver, TimeSpan.FromSeconds(20));
        // The page re-renders a section whenever a snapshot arrives: an element found a moment ago may be replaced.
        wait.IgnoreExceptionTypes(typeof(StaleElementReferenceException));
        IWebElement Row(string machine) => driver.FindElement(By.CssSelector($"#machines tr[data-machine='{machine}']"));
        string Text(string css) => wait.Until(d => d.FindElement(By.CssSelector(css)).Text);
        string[] Stages(string css) => wait.Until(d => d.FindElements(By.CssSelector(css)).Select(s => s.GetDomAttribute("data-stage") ?? "").ToArray());

        driver.Navigate().GoToUrl(server.BaseAddress);
        wait.Until(d => d.FindElements(By.CssSelector("#machines tbody tr[data-machine]")).Count == 3);
        Assert.Equal(["bootstrap-0", "cp-0", "worker-0"],
            wait.Until(d => d.FindElements(By.CssSelector("#machines tbody tr")).Select(r => r.GetDomAttribute("data-machine") ?? "").ToArray()));
        Assert.Equal("demo", Text("#cluster"));
        wait.Until(d => d.FindElement(By.Id("connection")).Text == "live");
        Assert.Equal("disabled", Text("#approver-state"));
        Assert.Equal("0", Text("#approver-pending"));
        Assert.Equal("4s", Text("#stuck-after"));

        // Anything set on the page survives only if it is never reloaded: the changes below must arrive live.
        driver.ExecuteScript("window.__sameDocument = true;");

        var workerScript = await server.Client.GetStringAsync("/ipxe?mac=52-54-00-00-30-01", Ct);
        wait.Until(_ => Row("worker-0").GetDomAttribute("data-state") == "ipxe");
        await server.RealConfigFromScriptAsync(workerScript, Ct);
        wait.Until(_ => Row("worker-0").GetDomAttribute("data-state") == "ignition" && Row("worker-0").GetDomAttribute("data-phase") == "provisioning");
        Assert.Equal(["ipxe", "ignition"], Stages("#machines tr[data-machine='worker-0'] .step:not(.todo)"));

        // The bootstrap machine's bootkube stages from its reports, and where the time went.
        var key = SecureIgnition.ReportKeyIn(await server.RealConfigFromScriptAsync(await server.Client.GetStringAsync("/ipxe?mac=52-54-00-00-10-01", Ct), Ct));
        foreach (var stage in new[] { "copy-static-pods", "wait-etcd", "wait-api" })
            await server.ReportAsync("bootstrap-0", key, "bootkube." + stage, "done", Ct);
        await server.ReportAsync("bootstrap-0", key, "bootkube.apply-manifests", "started", Ct);
        wait.Until(_ => Row("bootstrap-0").GetDomAttribute("data-state") == "bootkube.apply-manifests");
        Assert.Contains("bootkube.wait-api", Stages("#machines tr[data-machine='bootstrap-0'] .step:not(.todo)"));
        wait.Until(d => d.FindElements(By.CssSelector("#durations rect.bar[data-stage='bootkube.wait-api']")).Count == 1);

        (await server.Client.GetAsync("/ipxe?mac=52-54-00-00-99-01", Ct)).EnsureSuccessStatusCode();
        Assert.Contains("mac: 52:54:00:00:99:01", Text("#discovered .discovered[data-mac='52:54:00:00:99:01'] pre.adopt"));

        // No progress past the threshold: the machine is marked stuck with what is known about why.
        wait.Until(_ => Row("worker-0").GetDomAttribute("data-stuck") == "true");
        Assert.Contains("waiting for node registration", Text("#machines tr[data-machine='worker-0'] .reason"));
        Assert.Equal("stuck", Text("#machines tr[data-machine='worker-0'] .badge.stuck"));

        Assert.Equal(true, driver.ExecuteScript("return window.__sameDocument === true;"));
        var errors = driver.Manage().Logs.GetLog(LogType.Browser).Where(e => e.Level == LogLevel.Severe).Select(e => e.Message).ToList();
        Assert.True(errors.Count == 0, "browser console errors:\n" + string.Join("\n", errors));

        var results = Path.Combine(RepoPaths.Root, ".artifacts", "test-results");
        Directory.CreateDirectory(results);
        driver.GetScreenshot().SaveAsFile(Path.Combine(results, "console.png"));
        driver.Quit();
    }
}
