using Provisioner.Ignition;

namespace Provisioner.Tests.Ignition;

public class IgnitionNegotiationTests
{
    private static readonly IgnitionConfig Plain = new() { Ignition = new IgnitionSection { Version = "3.4.0" } };

    // Needs 3.3.0 because of kernelArguments.
    private static readonly IgnitionConfig WithKernelArguments = Plain with { KernelArguments = new KernelArguments { ShouldExist = ["quiet"] } };

    private const string Ignition = "application/vnd.coreos.ignition+json";

    [Theory]
    [InlineData(null, "3.4.0")]
    [InlineData("", "3.4.0")]
    [InlineData("*/*", "3.4.0")]
    [InlineData("application/*", "3.4.0")]
    [InlineData("application/json", "3.4.0")]
    [InlineData(Ignition, "3.4.0")]
    [InlineData(Ignition + ";version=3.0.0", "3.0.0")]
    [InlineData(Ignition + ";version=3.1.0", "3.1.0")]
    [InlineData(Ignition + ";version=3.2.0", "3.2.0")]
    [InlineData(Ignition + ";version=3.3.0", "3.3.0")]
    [InlineData(Ignition + "; version=\"3.5.0\"", "3.5.0")]
    [InlineData("APPLICATION/VND.COREOS.IGNITION+JSON;VERSION=3.1.0", "3.1.0")]
    // What Ignition itself sends: its newest spec, and anything as a last resort.
    [InlineData(Ignition + ";version=3.5.0, */*;q=0.1", "3.5.0")]
    [InlineData(Ignition + ";version=3.2.0, */*;q=0.1", "3.2.0")]
    [InlineData(Ignition + ";version=3.1.0;q=0.5, " + Ignition + ";version=3.2.0;q=0.9", "3.2.0")]
    [InlineData(Ignition + ";version=3.1.0, " + Ignition + ";version=3.2.0", "3.2.0")]
    [InlineData(Ignition + ";version=2.3.0, " + Ignition + ";version=3.0.0;q=0.2", "3.0.0")]
    [InlineData("text/html, */*;q=0.5", "3.4.0")]
    [InlineData("*/*, " + Ignition + ";version=3.4.0;q=0", "3.5.0")]
    public void A_plain_config_is_served_in_the_chosen_version(string? accept, string expected)
    {
        var result = IgnitionNegotiation.Choose(accept, Plain);
        Assert.True(result.IsAcceptable, result.NotAcceptableReason);
        Assert.Equal(expected, IgnitionSpec.Format(result.Version));
        Assert.Equal($"{Ignition};version={expected}", result.ContentType);
    }

    [Theory]
    [InlineData(null, "3.4.0")]
    [InlineData("*/*", "3.4.0")]
    [InlineData(Ignition + ";version=3.3.0", "3.3.0")]
    [InlineData(Ignition + ";version=3.2.0, */*;q=0.1", "3.4.0")]
    public void A_config_needing_3_3_is_served_in_a_version_that_has_its_features(string? accept, string expected)
    {
        var result = IgnitionNegotiation.Choose(accept, WithKernelArguments);
        Assert.True(result.IsAcceptable, result.NotAcceptableReason);
        Assert.Equal(expected, IgnitionSpec.Format(result.Version));
    }

    [Theory]
    [InlineData(Ignition + ";version=3.0.0")]
    [InlineData(Ignition + ";version=3.2.0")]
    public void Asking_for_a_version_too_old_for_the_config_is_refused_naming_the_feature(string accept)
    {
        var result = IgnitionNegotiation.Choose(accept, WithKernelArguments);
        Assert.False(result.IsAcceptable);
        Assert.Contains("kernelArguments", result.NotAcceptableReason);
        Assert.Contains("3.3.0", result.NotAcceptableReason);
    }

    [Theory]
    [InlineData(Ignition + ";version=2.3.0", "2.3.0")]
    [InlineData(Ignition + ";version=3.6.0", "3.6.0")]
    [InlineData(Ignition + ";version=9.9.9", "9.9.9")]
    [InlineData(Ignition + ";version=3.4.0-experimental", "3.4.0-experimental")]
    public void Asking_for_an_unsupported_version_is_refused_naming_the_supported_range(string accept, string requested)
    {
        var result = IgnitionNegotiation.Choose(accept, Plain);
        Assert.False(result.IsAcceptable);
        Assert.Contains(requested, result.NotAcceptableReason);
        Assert.Contains("3.0.0 to 3.5.0", result.NotAcceptableReason);
    }

    [Theory]
    [InlineData("text/html")]
    [InlineData("application/xml, text/plain;q=0.5")]
    [InlineData("*/*;q=0")]
    public void Asking_for_no_json_at_all_is_refused_naming_the_media_type(string accept)
    {
        var result = IgnitionNegotiation.Choose(accept, Plain);
        Assert.False(result.IsAcceptable);
        Assert.Contains(Ignition, result.NotAcceptableReason);
    }

    [Fact]
    public void An_unparseable_accept_header_is_refused_with_a_reason()
    {
        var result = IgnitionNegotiation.Choose("application/", Plain);
        Assert.False(result.IsAcceptable);
        Assert.Contains("could not be parsed", result.NotAcceptableReason);
    }
}
