using System.Collections.Immutable;
using System.Net;

namespace Provisioner.Profiles;

/// <summary>Everything an operator wrote in <c>profiles/</c>, validated and immutable.</summary>
internal sealed record ProfileSet(
    ClusterSpec Cluster,
    ImmutableDictionary<string, RoleSpec> Roles,
    ImmutableArray<MachineSpec> Machines,
    string Directory)
{
    /// <summary>The optional <c>release:</c> section (images and boot artifacts the release mirror serves).</summary>
    public ReleaseSpec? Release { get; init; }

    public MachineSpec? FindMachine(string name) =>
        Machines.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal));

    /// <summary>
    /// The disk <paramref name="machine"/> installs to (its own <c>installDisk</c>, else its role's), or null: it runs
    /// live from the network on every boot.
    /// </summary>
    public string? InstallDiskOf(MachineSpec machine) =>
        machine.InstallDisk ?? (Roles.TryGetValue(machine.Role, out var role) ? role.InstallDisk : null);
}

internal sealed record ClusterSpec(
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

internal sealed record RoleSpec(
    string Name,
    BootSpec Boot,
    string IgnitionTemplate,
    ImmutableDictionary<string, string> Labels,
    ImmutableArray<TaintSpec> Taints)
{
    /// <summary>The disk every machine of this role installs to, unless the machine names its own (<c>installDisk</c>).</summary>
    public string? InstallDisk { get; init; }

    /// <summary><c>ignition.bindTicketToAddress</c>: a boot ticket works only from the address that asked <c>/ipxe</c>.</summary>
    public bool BindTicketToAddress { get; init; } = true;

    /// <summary><c>ignition.freshRoundPerBoot</c>: machines boot live every time; each <c>/ipxe</c> starts a new provisioning round.</summary>
    public bool FreshRoundPerBoot { get; init; }
}

/// <summary>What iPXE loads. Kernel and initrds are paths below <c>/assets</c> or absolute http(s) URLs.</summary>
internal sealed record BootSpec(string Kernel, ImmutableArray<string> Initrds, ImmutableArray<string> Args)
{
    /// <summary>
    /// iPXE lines that boot an installed machine from its disk (<c>boot.localBoot</c>); empty: Provisioner's own
    /// (BIOS <c>sanboot --no-describe --drive 0x80</c>, UEFI <c>exit</c> to the firmware's next boot entry).
    /// </summary>
    public ImmutableArray<string> LocalBoot { get; init; } = [];
}

internal sealed record TaintSpec(string Key, string? Value, string Effect);

internal sealed record MachineSpec(
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

internal sealed record MachineSelectors(
    ImmutableArray<MacAddress> Macs,
    Guid? Uuid,
    string? Serial,
    string? Hostname);

/// <summary>Static addressing when <see cref="Address"/> is set, DHCP otherwise.</summary>
internal sealed record NetworkSpec(
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
internal sealed record SourceLocation(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}
