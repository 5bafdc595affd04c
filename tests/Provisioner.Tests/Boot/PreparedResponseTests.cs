using System.Text;
using System.Text.Json;
using Provisioner.Boot;

namespace Provisioner.Tests.Boot;

/// <summary>The bytes prepared ahead of requests are exactly what building them per request would give.</summary>
public sealed class PreparedResponseTests
{
    [Fact]
    public void A_prepared_script_puts_the_ticket_wherever_the_placeholder_was()
    {
        var text = $"#!ipxe\nkernel k ignition.config.url=http://x/ignition?mac=1&ticket={IpxeScripts.TicketPlaceholder}\n" +
                   $"initrd i coreos.inst.ignition_url=http://x/ignition?ticket={IpxeScripts.TicketPlaceholder}\nboot\n";

        var script = PreparedScript.For(text);

        Assert.True(script.NeedsTicket);
        Assert.Equal(text.Replace(IpxeScripts.TicketPlaceholder, "T1cket_-"), Encoding.UTF8.GetString(script.WithTicket("T1cket_-")));
    }

    [Fact]
    public void A_script_without_the_placeholder_needs_no_ticket_and_is_served_as_prepared()
    {
        var script = PreparedScript.For("#!ipxe\necho waiting for the release\nsleep 10\nchain /ipxe\n");

        Assert.False(script.NeedsTicket);
        Assert.Equal("#!ipxe\necho waiting for the release\nsleep 10\nchain /ipxe\n", Encoding.UTF8.GetString(script.WithTicket("unused")));
    }

    [Theory]
    [InlineData("https://192.0.2.1:8443/ignition?mac=52-54-00-00-30-01&ticket=abc_-1")]
    [InlineData("https://[fd00::1]:8443/ignition?hostname=n\u00e9ud&serial=\"<x>\"")]
    public void The_pointer_is_the_json_a_writer_gives_for_its_merge_source_and_ca(string source)
    {
        var pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

        var pointer = PointerConfig.Build(new Version(3, 3, 0), source, pem);

        using var json = JsonDocument.Parse(pointer);
        var ignition = json.RootElement.GetProperty("ignition");
        Assert.Equal("3.3.0", ignition.GetProperty("version").GetString());
        Assert.Equal(source, ignition.GetProperty("config").GetProperty("merge")[0].GetProperty("source").GetString());
        Assert.Equal("data:;base64," + Convert.ToBase64String(Encoding.UTF8.GetBytes(pem)),
            ignition.GetProperty("security").GetProperty("tls").GetProperty("certificateAuthorities")[0].GetProperty("source").GetString());
    }

    [Fact]
    public void The_pointer_follows_a_new_ca_and_the_asked_version()
    {
        var first = PointerConfig.Build(new Version(3, 3, 0), "https://h/ignition", "CA ONE");
        var second = PointerConfig.Build(new Version(3, 4, 0), "https://h/ignition", "CA TWO");

        Assert.Contains("3.3.0", Encoding.UTF8.GetString(first));
        Assert.Contains("3.4.0", Encoding.UTF8.GetString(second));
        Assert.Contains(Convert.ToBase64String(Encoding.UTF8.GetBytes("CA TWO")), Encoding.UTF8.GetString(second));
        Assert.DoesNotContain(Convert.ToBase64String(Encoding.UTF8.GetBytes("CA ONE")), Encoding.UTF8.GetString(second));
    }
}
