using System.Collections.Immutable;
using System.Net;
using Provisioner.Approval;
using Provisioner.Profiles;

namespace Provisioner.Tests.Approval;

public sealed class InventoryTests
{
    private static readonly ClusterSpec Cluster = new(
        "lab", "example.com", "https://api.lab.example.com:6443", null, "v1.34.1",
        IPNetwork.Parse("10.244.0.0/16"), IPNetwork.Parse("10.96.0.0/12"), IPAddress.Parse("10.96.0.10"),
        "cluster.local", [], null);

    private static MachineSpec Machine(string name, NetworkSpec network) =>
        new(name, "worker", new MachineSelectors([], null, null, null), network, null,
            ImmutableDictionary<string, string>.Empty, new SourceLocation("machines.yaml", 1, 1));

    [Fact]
    public void A_static_profile_machine_is_known_by_its_name_fqdn_and_address()
    {
        var network = new NetworkSpec(false, "eno1", IPAddress.Parse("10.0.0.10"), 24, IPAddress.Parse("10.0.0.1"), []);

        var facts = MachineFacts.FromProfile(Machine("worker-0", network), Cluster, World.Now);

        Assert.Equal(["worker-0", "worker-0.lab.example.com"], facts.DnsNames);
        Assert.Equal([IPAddress.Parse("10.0.0.10")], facts.Addresses);
        Assert.Equal(World.Now, facts.LastIgnitionFetch);
    }

    [Fact]
    public void A_dhcp_profile_machine_has_no_addresses_a_serving_certificate_could_name()
    {
        var facts = MachineFacts.FromProfile(Machine("worker-0", NetworkSpec.UseDhcp), Cluster, null);

        Assert.Empty(facts.Addresses);
    }

    [Fact]
    public void A_node_name_finds_its_machine_by_fqdn_ignoring_case()
    {
        var machine = World.Inventory.FindMachineByNodeName("WORKER-1.lab.example.com");

        Assert.Equal("worker-1", machine?.Name);
    }

    [Fact]
    public void A_node_name_of_no_machine_finds_nothing()
    {
        Assert.Null(World.Inventory.FindMachineByNodeName("worker-2"));
    }

    [Fact]
    public void A_csr_without_groups_is_left_pending_instead_of_crashing()
    {
        var csr = Requests.FirstJoin(new CsrSpec().Pem()) with { Groups = default };

        var decision = new CsrPolicy(CsrPolicyOptions.Default).Decide(csr, World.Inventory);

        Assert.Equal((CsrVerdict.LeavePending, CsrReasons.RequesterMismatch), (decision.Verdict, decision.Reason));
    }
}
