using System.Collections.Concurrent;
using System.Diagnostics;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Approval;

/// <summary>
/// Makes keys and CSRs with the real <c>openssl</c> CLI, the way an operator or a kubelet-alike
/// would, so the policy is proven against encodings it did not write itself. Used as a class
/// fixture: keys are made once per test class and the scratch directory goes with it.
/// </summary>
public sealed class OpenSsl : IDisposable
{
    private readonly Lazy<string> directory = new(() => Directory.CreateTempSubdirectory("provisioner-csr-").FullName);
    private readonly ConcurrentDictionary<string, string> keys = new();

    public void Dispose()
    {
        if (directory.IsValueCreated) Directory.Delete(directory.Value, recursive: true);
    }

    /// <summary>A key file made once per run: "ec:P-256", "ec:P-384" or "rsa:2048"-style specs.</summary>
    public string Key(string spec) => keys.GetOrAdd(spec, spec =>
    {
        var path = Path.Combine(directory.Value, spec.Replace(':', '-') + ".key");
        var (algorithm, parameter) = spec.Split(':') switch
        {
            ["ec", var curve] => ("EC", $"ec_paramgen_curve:{curve}"),
            ["rsa", var bits] => ("RSA", $"rsa_keygen_bits:{bits}"),
            _ => throw new ArgumentException($"unknown key spec {spec}"),
        };
        Run("genpkey", "-algorithm", algorithm, "-pkeyopt", parameter, "-out", path);
        return path;
    });

    /// <summary>The PEM of <c>openssl req -new -key … -subj … [-addext …]</c>.</summary>
    public string Request(string keySpec, string subject, params string[] addext)
    {
        var output = Path.Combine(directory.Value, Guid.NewGuid().ToString("N") + ".csr");
        string[] args = ["req", "-new", "-key", Key(keySpec), "-subj", subject, "-out", output, .. addext.SelectMany(e => new[] { "-addext", e })];
        Run(args);
        return File.ReadAllText(output);
    }

    /// <summary>The same request with the last byte of its signature flipped.</summary>
    public static string WithCorruptSignature(string pem)
    {
        var body = string.Concat(pem.Split('\n').Where(line => !line.StartsWith("-----", StringComparison.Ordinal)));
        var der = Convert.FromBase64String(body);
        der[^1] ^= 0x01;
        return CsrSpec.ToPem(der);
    }

    private static void Run(params string[] args)
    {
        var start = new ProcessStartInfo(Requires.Program("openssl", "openssl")) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        if (!process.WaitForExit(TimeSpan.FromMinutes(1)))
        {
            process.Kill();
            throw new TimeoutException($"openssl {string.Join(' ', args)} did not finish");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"openssl {string.Join(' ', args)} failed ({process.ExitCode}): {stderr.Result}");
    }
}
