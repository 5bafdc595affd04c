using Provisioner.Profiles;
using Provisioner.Tests.Support;

namespace Provisioner.Tests.Profiles;

public sealed class MachineMatcherTests : IDisposable
{
    private readonly ProfileTree _tree = new();
    private readonly ProfileSet _profiles;

    public MachineMatcherTests()
    {
        // Give each machine every kind of selector, distinct per machine, to test precedence.
        _tree.Write("machines.yaml", """
            machines:
              - name: by-uuid
                role: worker
                select: { uuid: 11111111-1111-4111-8111-111111111111 }
              - name: by-mac
                role: worker
                select: { mac: 52:54:00:aa:00:01 }
              - name: by-serial
                role: worker
                select: { serial: SER-1 }
              - name: by-hostname
                role: worker
                select: { hostname: node-a }
            """);
        _profiles = ProfileLoader.Load(_tree.Sources);
    }

    public void Dispose() => _tree.Dispose();

    private string? Match(string? mac = null, string? uuid = null, string? serial = null, string? hostname = null) =>
        MachineMatcher.Match(_profiles, new MachineQuery(mac is null ? null : MacAddress.Parse(mac), uuid is null ? null : Guid.Parse(uuid), serial, hostname))?.Machine.Name;

    [Fact]
    public void UuidWinsOverMac() =>
        Assert.Equal("by-uuid", Match(mac: "52:54:00:aa:00:01", uuid: "11111111-1111-4111-8111-111111111111"));

    [Fact]
    public void MacWinsOverSerial() => Assert.Equal("by-mac", Match(mac: "52-54-00-aa-00-01", serial: "SER-1"));

    [Fact]
    public void SerialWinsOverHostname() => Assert.Equal("by-serial", Match(serial: "SER-1", hostname: "node-a"));

    [Fact]
    public void HostnameMatchesCaseInsensitively() => Assert.Equal("by-hostname", Match(hostname: "NODE-A"));

    [Fact]
    public void UnknownUuidFallsBackToMac() =>
        Assert.Equal("by-mac", Match(mac: "52:54:00:aa:00:01", uuid: "22222222-2222-4222-8222-222222222222"));

    [Fact]
    public void NothingMatchesAnUnknownMachine() => Assert.Null(Match(mac: "52:54:00:ff:ff:ff", serial: "nope"));

    [Theory]
    [InlineData("52:54:00:AA:00:01")]
    [InlineData("52-54-00-aa-00-01")]
    [InlineData("525400aa0001")]
    public void MacAddressFormsAreEquivalent(string text) =>
        Assert.Equal(MacAddress.Parse("52:54:00:aa:00:01"), MacAddress.Parse(text));

    [Theory]
    [InlineData("52:54:00:aa:00")]
    [InlineData("52:54-00:aa:00:01")]
    [InlineData("zz:54:00:aa:00:01")]
    [InlineData("")]
    public void MalformedMacAddressesDoNotParse(string text) => Assert.False(MacAddress.TryParse(text, out _));
}
