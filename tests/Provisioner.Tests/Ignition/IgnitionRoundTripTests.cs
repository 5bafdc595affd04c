using System.Security.Cryptography;
using System.Text;
using Provisioner.Ignition;

namespace Provisioner.Tests.Ignition;

// What the server emits must pass the official schema of the version it declares, and our own validator.
public class IgnitionRoundTripTests
{
    private static readonly byte[] KubeletConfig =
        Encoding.UTF8.GetBytes(string.Concat(Enumerable.Range(0, 300).Select(i => $"# line {i}\nkey{i}: value{i}\n")));

    private static IgnitionConfig Rich(string version) => new()
    {
        Ignition = new IgnitionSection { Version = version },
        KernelArguments = new KernelArguments { ShouldExist = ["console=ttyS0,115200n8", "quiet"], ShouldNotExist = ["mitigations=off"] },
        Passwd = new Passwd
        {
            Users =
            [
                new PasswdUser { Name = "core", SshAuthorizedKeys = ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA admin@example"], Groups = ["wheel", "sudo"], Shell = "/bin/bash" },
                new PasswdUser { Name = "etcd", Uid = 232, HomeDir = "/var/lib/etcd" },
            ],
            Groups = [new PasswdGroup { Name = "kube", Gid = 990 }],
        },
        Storage = new Storage
        {
            Directories = [new DirectoryEntry { Path = "/etc/kubernetes", Mode = 493 /* 0755 */ }],
            Files =
            [
                new FileEntry { Path = "/etc/hostname", Mode = 420, Overwrite = true, Contents = DataUrl.ForContents(Encoding.UTF8.GetBytes("node-1\n")) },
                new FileEntry { Path = "/etc/kubernetes/kubelet.yaml", Mode = 384, User = new NodeUser { Name = "root" }, Contents = DataUrl.ForContents(KubeletConfig) },
                new FileEntry { Path = "/opt/bin/blob", Mode = 493, Contents = new Resource { Source = DataUrl.Encode([0, 1, 2, 0xFF]) } },
                new FileEntry
                {
                    Path = "/etc/kubernetes/ca.crt",
                    Contents = new Resource
                    {
                        Source = "data:,ca",
                        Verification = new Verification { Hash = "sha512-" + Convert.ToHexStringLower(SHA512.HashData("ca"u8)) },
                    },
                },
                new FileEntry { Path = "/etc/motd", Append = [new Resource { Source = DataUrl.Encode("provisioned\n"u8) }] },
            ],
            Links = [new LinkEntry { Path = "/usr/local/bin/kubectl", Target = "/opt/bin/kubectl" }],
        },
        Systemd = new Systemd
        {
            Units =
            [
                new Unit
                {
                    Name = "kubelet.service",
                    Enabled = true,
                    Contents = "[Unit]\nDescription=Kubelet\nAfter=network-online.target\n\n[Service]\nExecStart=/opt/bin/kubelet \\\n  --config=/etc/kubernetes/kubelet.yaml\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n",
                    Dropins = [new Dropin { Name = "10-env.conf", Contents = "[Service]\nEnvironment=NODE_NAME=node-1\n" }],
                },
                new Unit { Name = "containerd.service", Dropins = [new Dropin { Name = "10-limits.conf", Contents = "[Service]\nLimitNOFILE=1048576\n" }] },
                new Unit { Name = "update-engine.service", Mask = true },
            ],
        },
    };

    private static IgnitionConfig WithoutKernelArguments(string version) => Rich(version) with { KernelArguments = null };

    [Fact]
    public void The_rich_config_needs_3_3_for_its_kernel_arguments() =>
        Assert.Equal(new Version(3, 3, 0), IgnitionSpec.MinimumVersion(Rich("3.4.0")));

    [Fact]
    public void The_rich_config_uses_gzip_for_its_large_file() =>
        Assert.Equal("gzip", Rich("3.4.0").Storage!.Files![1].Contents!.Compression);

    [Theory]
    [InlineData("3.3.0")] [InlineData("3.4.0")] [InlineData("3.5.0")]
    public async Task The_rich_config_is_valid_in_every_version_it_can_claim(string version) =>
        await AssertValidEverywhereAsync(Rich(version), version);

    [Theory]
    [InlineData("3.0.0")] [InlineData("3.1.0")] [InlineData("3.2.0")]
    public async Task Without_kernel_arguments_it_is_valid_in_older_versions_too(string version) =>
        await AssertValidEverywhereAsync(WithoutKernelArguments(version), version);

    [Fact]
    public void Serialized_json_deserializes_to_the_same_config()
    {
        var json = IgnitionJson.Serialize(Rich("3.4.0"));
        Assert.Equal(json, IgnitionJson.Serialize(IgnitionJson.Deserialize(json)));
    }

    [Fact]
    public void The_inline_contents_decode_back_to_the_original_bytes()
    {
        var config = IgnitionJson.Deserialize(IgnitionJson.Serialize(Rich("3.4.0")));
        Assert.Equal(KubeletConfig, DataUrl.Decode(config.Storage!.Files![1].Contents!));
        Assert.Equal("node-1\n"u8.ToArray(), DataUrl.Decode(config.Storage.Files[0].Contents!));
        Assert.Equal(new byte[] { 0, 1, 2, 0xFF }, DataUrl.Decode(config.Storage.Files[2].Contents!));
    }

    private static async Task AssertValidEverywhereAsync(IgnitionConfig config, string version)
    {
        var json = IgnitionJson.Serialize(config);
        await IgnitionSchema.AssertValidAsync(json, version);
        Assert.Empty(IgnitionValidator.Validate(config));
        Assert.Empty(IgnitionValidator.Validate(json));
    }
}
