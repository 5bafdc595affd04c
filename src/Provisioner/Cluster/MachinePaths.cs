namespace Provisioner.Cluster;

/// <summary>Where rendered assets live on a machine (kubeadm's layout, so its tooling and docs apply).</summary>
internal static class MachinePaths
{
    public const string Kubernetes = "/etc/kubernetes";
    public const string Pki = "/etc/kubernetes/pki";
    public const string StaticPods = "/etc/kubernetes/manifests";
    public const string AdminKubeconfig = "/etc/kubernetes/admin.kubeconfig";
    public const string ControllerManagerKubeconfig = "/etc/kubernetes/controller-manager.kubeconfig";
    public const string SchedulerKubeconfig = "/etc/kubernetes/scheduler.kubeconfig";
    public const string BootstrapKubeletKubeconfig = "/etc/kubernetes/bootstrap-kubelet.kubeconfig";
    /// <summary>Written by the kubelet itself once its client CSR is approved.</summary>
    public const string KubeletKubeconfig = "/etc/kubernetes/kubelet.kubeconfig";
    public const string KubeletConfig = "/etc/kubernetes/kubelet-config.yaml";
    /// <summary>The bootstrap machine's copy of the cluster directory parts it needs.</summary>
    public const string BootstrapAssets = "/opt/provisioner";
    public const string BootstrapStaticPods = BootstrapAssets + "/bootstrap-manifests";
    public const string BootstrapManifests = BootstrapAssets + "/manifests";
    public const string EtcdData = "/var/lib/etcd";

    public static string PkiFile(string name) => $"{Pki}/{name}";
}
