using System.Collections.Immutable;
using System.Net;

namespace Provisioner.Profiles;

/// <summary>Everything an operator wrote in <c>profiles/</c>, validated and immutable.</summary>
public sealed record ProfileSet(
    ClusterSpec Cluster,
    ImmutableDictionary<string, RoleSpec> Roles,
    ImmutableArray<MachineSpec> Machines,
    string Directory)
{
    /// <summary>The optional <c>release:</c> section (images and boot artifacts the release mirror serves).</summary>
    public ReleaseSpec? Release { get; init; }

    public MachineSpec? FindMachine(string name) =>
        Machines.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal));
}

public sealed record ClusterSpec(
    string Name,
    string BaseDomain,
    string ApiEndpoint,
    IPAddress? ApiVip,
    string KubernetesVersion,
    IPNetwork PodCidr,
    IPNetwork ServiceCidr,
    IPAddress ClusterDns,
    string ClusterDomain,
    ImmutableArray<string> SshAuthorizedKeys,
    Uri? ProvisionerUrl)
{
    /// <summary>The cluster's DNS suffix for machines: <c>name.baseDomain</c>.</summary>
    public string Domain => $"{Name}.{BaseDomain}";

    /// <summary>Image overrides by component (<c>images:</c>); see <see cref="ClusterImages"/>.</summary>
    public ImmutableDictionary<string, string> Images { get; init; } = ImmutableDictionary<string, string>.Empty;

    /// <summary>The pod network Provisioner renders (<c>network:</c>): <see cref="NetworkFlannel"/> (default) or <see cref="NetworkNone"/>.</summary>
    public string Network { get; init; } = NetworkFlannel;

    /// <summary>flannel (VXLAN) from <see cref="PodCidr"/>, rendered into manifests/.</summary>
    public const string NetworkFlannel = "flannel";

    /// <summary>No pod network: the operator brings their own CNI (nodes stay NotReady until it runs).</summary>
    public const string NetworkNone = "none";

    public static readonly ImmutableArray<string> Networks = [NetworkFlannel, NetworkNone];
}

public sealed record RoleSpec(
    string Name,
    BootSpec Boot,
    string IgnitionTemplate,
    ImmutableDictionary<string, string> Labels,
    ImmutableArray<TaintSpec> Taints,
    bool BindTicketToAddress = true,
    bool FreshRoundPerBoot = false);

/// <summary>What iPXE loads. Kernel and initrds are paths below <c>/assets</c> or absolute http(s) URLs.</summary>
public sealed record BootSpec(string Kernel, ImmutableArray<string> Initrds, ImmutableArray<string> Args);

public sealed record TaintSpec(string Key, string? Value, string Effect);

public sealed record MachineSpec(
    string Name,
    string Role,
    MachineSelectors Select,
    NetworkSpec Network,
    string? InstallDisk,
    ImmutableDictionary<string, string> Labels,
    SourceLocation Location)
{
    /// <summary>Fully qualified host name inside the cluster domain.</summary>
    public string Fqdn(ClusterSpec cluster) => $"{Name}.{cluster.Domain}";
}

public sealed record MachineSelectors(
    ImmutableArray<MacAddress> Macs,
    Guid? Uuid,
    string? Serial,
    string? Hostname);

/// <summary>Static addressing when <see cref="Address"/> is set, DHCP otherwise.</summary>
public sealed record NetworkSpec(
    bool Dhcp,
    string? Interface,
    IPAddress? Address,
    int? PrefixLength,
    IPAddress? Gateway,
    ImmutableArray<IPAddress> Dns)
{
    public static NetworkSpec UseDhcp { get; } = new(true, null, null, null, null, []);
}

/// <summary>A place in an operator's file, for messages that point at it.</summary>
public sealed record SourceLocation(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}
