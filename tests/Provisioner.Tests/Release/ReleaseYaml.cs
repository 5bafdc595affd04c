using System.Security.Cryptography;
using System.Text;

namespace Provisioner.Tests.Release;

/// <summary>Writes a <c>release:</c> section for tests (every image the example cluster needs, flannel's too); image digests are hashes of their names (the tests never pull them).</summary>
internal static class ReleaseYaml
{
    public static string Hex(string text) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text)));

    public static string Images(string version = "v1.31.2") => $"""
          images:
            kube-apiserver: {"{"}image: registry.k8s.io/kube-apiserver:{version}, digest: "sha256:{Hex("kube-apiserver")}"{"}"}
            kube-controller-manager: {"{"}image: registry.k8s.io/kube-controller-manager:{version}, digest: "sha256:{Hex("kcm")}"{"}"}
            kube-scheduler: {"{"}image: registry.k8s.io/kube-scheduler:{version}, digest: "sha256:{Hex("ks")}"{"}"}
            kube-proxy: {"{"}image: registry.k8s.io/kube-proxy:{version}, digest: "sha256:{Hex("kp")}"{"}"}
            pause: {"{"}image: registry.k8s.io/pause:3.10, digest: "sha256:{Hex("pause")}"{"}"}
            etcd: {"{"}image: registry.k8s.io/etcd:3.5.15-0, digest: "sha256:{Hex("etcd")}"{"}"}
            coredns: {"{"}image: registry.k8s.io/coredns/coredns:v1.11.3, digest: "sha256:{Hex("coredns")}"{"}"}
            kubelet: {"{"}image: quay.io/poseidon/kubelet:{version}, digest: "sha256:{Hex("kubelet")}"{"}"}
            kubectl: {"{"}image: registry.k8s.io/kubectl:{version}, digest: "sha256:{Hex("kubectl")}"{"}"}
            flannel: {"{"}image: docker.io/flannel/flannel:v0.26.1, digest: "sha256:{Hex("flannel")}"{"}"}
            flannel-cni-plugin: {"{"}image: docker.io/flannel/flannel-cni-plugin:v1.5.1-flannel2, digest: "sha256:{Hex("flannel-cni-plugin")}"{"}"}

        """;

    /// <summary>A complete release section; <paramref name="artifacts"/> maps name → (url, sha256 hex) for x86_64.</summary>
    public static string Section(IEnumerable<(string Name, string Url, string Sha256)> artifacts, string version = "v1.31.2")
    {
        var sb = new StringBuilder("release:\n");
        sb.Append($"  kubernetesVersion: {version}\n");
        sb.Append(Images(version));
        var list = artifacts.ToList();
        if (list.Count > 0) sb.Append("  artifacts:\n    x86_64:\n");
        foreach (var (name, url, sha) in list)
            sb.Append($"      {name}:\n        url: {url}\n        sha256: {sha}\n");
        return sb.ToString();
    }
}
