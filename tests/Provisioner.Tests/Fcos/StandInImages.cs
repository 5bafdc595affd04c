using System.Diagnostics;
using System.Text.Json;
using Provisioner.Tests.Support;
using Provisioner.Primitives;

namespace Provisioner.Tests.Fcos;

/// <summary>
/// Stand-ins for the release's kubelet and kubectl images, built FROM scratch with buildah from Debian's
/// busybox-static (no registry is ever contacted) and written as OCI layouts for the release store:
/// <list type="bullet">
/// <item>kubelet: entrypoint <c>/usr/local/bin/kubelet</c> prints <c>stand-in kubelet argv: …</c> and sleeps;</item>
/// <item>kubectl: <c>kubectl</c> on the PATH prints <c>stand-in kubectl: …</c> to stderr, fails unless every
///   <c>--kubeconfig</c> and <c>-f</c> file is readable inside the container (so the mounts are checked), exits 0.</item>
/// </list>
/// </summary>
internal sealed record StandInImages(string KubeletLayout, string KubeletDigest, string KubectlLayout, string KubectlDigest)
{
    public const string Tag = "stand-in";

    private const string KubeletScript = """
        #!/bin/busybox sh
        echo "stand-in kubelet argv: $*"
        exec /bin/busybox sleep 2147483647

        """;

    private const string KubectlScript = """
        #!/bin/busybox sh
        echo "stand-in kubectl: $*" >&2
        prev=
        for a in "$@"; do
          case "$prev" in
            --kubeconfig|-f) [ -r "$a" ] || { echo "stand-in kubectl: cannot read $a" >&2; exit 1; } ;;
          esac
          prev=$a
        done
        exit 0

        """;

    public static async Task<StandInImages> BuildAsync(string dir, CancellationToken ct)
    {
        var buildah = Requires.Program("buildah", "buildah");
        var busybox = Requires.Program("/bin/busybox", "busybox-static");
        Directory.CreateDirectory(dir);
        await File.WriteAllTextAsync(Path.Combine(dir, "kubelet"), KubeletScript, ct);
        await File.WriteAllTextAsync(Path.Combine(dir, "kubectl"), KubectlScript, ct);
        // vfs storage in the temp directory: nothing is mounted or left in the host's container storage.
        var script = $$"""
            set -euo pipefail
            B=({{buildah}} --root '{{dir}}/st' --runroot '{{dir}}/run' --storage-driver vfs)
            c=$("${B[@]}" from scratch)
            "${B[@]}" copy -q "$c" '{{busybox}}' /bin/busybox
            "${B[@]}" copy -q --chmod 0755 "$c" '{{dir}}/kubelet' /usr/local/bin/kubelet
            "${B[@]}" copy -q --chmod 0755 "$c" '{{dir}}/kubectl' /usr/local/bin/kubectl
            "${B[@]}" config --env PATH=/usr/local/bin:/bin --entrypoint '["/usr/local/bin/kubelet"]' --cmd '[]' "$c"
            "${B[@]}" commit -q "$c" localhost/stand-in-kubelet:{{Tag}} >/dev/null
            "${B[@]}" config --entrypoint '["/usr/local/bin/kubectl"]' "$c"
            "${B[@]}" commit -q "$c" localhost/stand-in-kubectl:{{Tag}} >/dev/null
            "${B[@]}" push -q localhost/stand-in-kubelet:{{Tag}} 'oci:{{dir}}/kubelet-layout:{{Tag}}'
            "${B[@]}" push -q localhost/stand-in-kubectl:{{Tag}} 'oci:{{dir}}/kubectl-layout:{{Tag}}'
            "${B[@]}" rm -a >/dev/null
            rm -rf '{{dir}}/st' '{{dir}}/run'
            """;
        var (exit, output) = await Proc.RunAsync("bash", ["-c", script], ct);
        Assert.True(exit == 0, "buildah failed:\n" + output);
        string Digest(string layout)
        {
            using var index = JsonDocument.Parse(File.ReadAllText(Path.Combine(layout, "index.json")));
            return index.RootElement.GetProperty("manifests")[0].GetProperty("digest").GetString()!;
        }
        var kubelet = Path.Combine(dir, "kubelet-layout");
        var kubectl = Path.Combine(dir, "kubectl-layout");
        return new StandInImages(kubelet, Digest(kubelet), kubectl, Digest(kubectl));
    }
}

/// <summary>Runs a program to completion, stdout and stderr merged in order of arrival.</summary>
internal static class Proc
{
    public static async Task<(int Exit, string Output)> RunAsync(string program, IEnumerable<string> args, CancellationToken ct,
        IReadOnlyDictionary<string, string>? env = null)
    {
        var psi = new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var (k, v) in env ?? new Dictionary<string, string>()) psi.Environment[k] = v;
        using var process = Process.Start(psi)!;
        var output = new System.Text.StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try { await process.WaitForExitAsync(ct); }
        catch (OperationCanceledException) { process.Kill(entireProcessTree: true); throw; }
        lock (output) return (process.ExitCode, output.ToString());
    }
}
