using System.Security.Cryptography;
using System.Text;
using Provisioner.Ignition;

namespace Provisioner.Tests.Ignition;

public class IgnitionValidatorTests
{
    private static IgnitionConfig Config(string version = "3.4.0") => new() { Ignition = new IgnitionSection { Version = version } };

    private static IgnitionConfig WithFiles(params FileEntry[] files) => Config() with { Storage = new Storage { Files = files } };

    private static IgnitionConfig WithUnits(params Unit[] units) => Config() with { Systemd = new Systemd { Units = units } };

    private static FileEntry File(string path, string text = "x") => new() { Path = path, Contents = new Resource { Source = DataUrl.Encode(Encoding.UTF8.GetBytes(text)) } };

    private static IgnitionProblem SingleError(IgnitionConfig config)
    {
        var problems = IgnitionValidator.Validate(config);
        return Assert.Single(problems, p => p.Severity == IgnitionSeverity.Error);
    }

    private static void AssertError(IgnitionConfig config, string path, string messagePart)
    {
        var problem = SingleError(config);
        Assert.Equal(path, problem.Path);
        Assert.Contains(messagePart, problem.Message, StringComparison.OrdinalIgnoreCase);
    }

    private static void AssertNoProblems(IgnitionConfig config) => Assert.Empty(IgnitionValidator.Validate(config));

    [Fact]
    public void A_minimal_config_has_no_problems() => AssertNoProblems(Config());

    // --- version ---

    [Theory]
    [InlineData("2.3.0")]
    [InlineData("3.6.0")]
    [InlineData("3.4.0-experimental")]
    [InlineData("3.4")]
    [InlineData("")]
    public void An_unsupported_version_is_an_error(string version) =>
        AssertError(Config(version), "$.ignition.version", "unsupported spec version");

    [Fact]
    public void A_feature_newer_than_the_declared_version_is_an_error() =>
        AssertError(Config("3.2.0") with { KernelArguments = new KernelArguments { ShouldExist = ["quiet"] } }, "$.kernelArguments", "needs spec 3.3.0");

    // --- paths ---

    [Fact]
    public void A_relative_path_is_an_error() => AssertError(WithFiles(File("etc/hosts")), "$.storage.files[0].path", "absolute");

    [Theory]
    [InlineData("/etc//hosts")]
    [InlineData("/etc/./hosts")]
    [InlineData("/etc/../hosts")]
    [InlineData("/etc/")]
    public void An_unclean_path_is_an_error(string path) => AssertError(WithFiles(File(path)), "$.storage.files[0].path", "not clean");

    [Fact]
    public void The_same_path_for_a_file_and_a_directory_is_an_error() =>
        AssertError(Config() with { Storage = new Storage { Files = [File("/etc/a")], Directories = [new DirectoryEntry { Path = "/etc/a" }] } },
            "$.storage.directories[0].path", "duplicate path");

    [Fact]
    public void The_same_path_for_two_links_is_an_error() =>
        AssertError(Config() with { Storage = new Storage { Links = [new LinkEntry { Path = "/a", Target = "b" }, new LinkEntry { Path = "/a", Target = "c" }] } },
            "$.storage.links[1].path", "also at $.storage.links[0].path");

    [Fact]
    public void A_relative_hard_link_target_is_an_error() =>
        AssertError(Config() with { Storage = new Storage { Links = [new LinkEntry { Path = "/a", Target = "b", Hard = true }] } },
            "$.storage.links[0].target", "absolute");

    [Fact]
    public void A_relative_symlink_target_is_fine() =>
        AssertNoProblems(Config() with { Storage = new Storage { Links = [new LinkEntry { Path = "/a", Target = "b" }] } });

    // --- duplicates ---

    [Fact]
    public void Duplicate_unit_names_are_an_error() =>
        AssertError(WithUnits(new Unit { Name = "a.service" }, new Unit { Name = "a.service" }), "$.systemd.units[1].name", "duplicate unit");

    [Fact]
    public void Duplicate_dropin_names_within_a_unit_are_an_error() =>
        AssertError(WithUnits(new Unit { Name = "a.service", Dropins = [new Dropin { Name = "10.conf" }, new Dropin { Name = "10.conf" }] }),
            "$.systemd.units[0].dropins[1].name", "duplicate drop-in");

    [Fact]
    public void The_same_dropin_name_in_two_units_is_fine() =>
        AssertNoProblems(WithUnits(new Unit { Name = "a.service", Dropins = [new Dropin { Name = "10.conf" }] },
            new Unit { Name = "b.service", Dropins = [new Dropin { Name = "10.conf" }] }));

    [Fact]
    public void Duplicate_user_names_are_an_error() =>
        AssertError(Config() with { Passwd = new Passwd { Users = [new PasswdUser { Name = "core" }, new PasswdUser { Name = "core" }] } },
            "$.passwd.users[1].name", "duplicate user");

    [Fact]
    public void Duplicate_group_names_are_an_error() =>
        AssertError(Config() with { Passwd = new Passwd { Groups = [new PasswdGroup { Name = "k8s" }, new PasswdGroup { Name = "k8s" }] } },
            "$.passwd.groups[1].name", "duplicate group");

    [Fact]
    public void A_duplicate_ssh_key_is_an_error() =>
        AssertError(Config() with { Passwd = new Passwd { Users = [new PasswdUser { Name = "core", SshAuthorizedKeys = ["ssh-ed25519 AAA a", "ssh-ed25519 AAA b", "ssh-ed25519 AAA a"] }] } },
            "$.passwd.users[0].sshAuthorizedKeys[2]", "duplicate SSH key");

    [Fact]
    public void A_duplicate_supplementary_group_of_a_user_is_an_error() =>
        AssertError(Config() with { Passwd = new Passwd { Users = [new PasswdUser { Name = "core", Groups = ["wheel", "wheel"] }] } },
            "$.passwd.users[0].groups[1]", "duplicate group");

    [Fact]
    public void A_duplicate_kernel_argument_is_an_error() =>
        AssertError(Config() with { KernelArguments = new KernelArguments { ShouldNotExist = ["quiet", "quiet"] } },
            "$.kernelArguments.shouldNotExist[1]", "duplicate kernel argument");

    [Fact]
    public void A_kernel_argument_both_wanted_and_unwanted_is_an_error() =>
        AssertError(Config() with { KernelArguments = new KernelArguments { ShouldExist = ["quiet"], ShouldNotExist = ["quiet"] } },
            "$.kernelArguments.shouldNotExist[0]", "also in shouldExist");

    // --- resources ---

    [Theory]
    [InlineData("data:,100%")]
    [InlineData("data:,%zz")]
    [InlineData("data:;base64,not*base64")]
    [InlineData("data:text/plain;base64")]
    [InlineData("data:textplain,x")]
    public void A_data_url_that_does_not_decode_is_an_error(string source) =>
        AssertError(WithFiles(new FileEntry { Path = "/a", Contents = new Resource { Source = source } }), "$.storage.files[0].contents.source", "data: URL");

    [Theory]
    [InlineData("data:,hello%20world%0A")]
    [InlineData("data:text/plain;charset=utf-8;base64,aGVsbG8=")]
    [InlineData("data:,")]
    public void A_well_formed_data_url_is_fine(string source) =>
        AssertNoProblems(WithFiles(new FileEntry { Path = "/a", Contents = new Resource { Source = source } }));

    [Fact]
    public void Gzip_compression_of_data_that_is_not_gzip_is_an_error() =>
        AssertError(WithFiles(new FileEntry { Path = "/a", Contents = new Resource { Source = "data:,plain", Compression = "gzip" } }),
            "$.storage.files[0].contents.source", "not valid gzip");

    [Theory]
    [InlineData("xz")]
    [InlineData("GZIP")]
    public void Compression_other_than_gzip_is_an_error(string compression) =>
        AssertError(WithFiles(new FileEntry { Path = "/a", Contents = new Resource { Source = "https://example.test/a", Compression = compression } }),
            "$.storage.files[0].contents.compression", "unsupported compression");

    [Fact]
    public void An_empty_compression_is_fine() =>
        AssertNoProblems(WithFiles(new FileEntry { Path = "/a", Contents = new Resource { Source = "data:,x", Compression = "" } }));

    [Theory]
    [InlineData("md5-0123456789abcdef0123456789abcdef")]
    [InlineData("sha256-abc")]
    [InlineData("sha512-0123")]
    [InlineData("sha256-ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789")]
    [InlineData("sha256")]
    public void A_malformed_hash_is_an_error(string hash) =>
        AssertError(WithFiles(new FileEntry { Path = "/a", Contents = new Resource { Source = "https://example.test/a", Verification = new Verification { Hash = hash } } }),
            "$.storage.files[0].contents.verification.hash", "hash");

    [Fact]
    public void A_well_formed_hash_of_a_remote_source_is_fine() =>
        AssertNoProblems(WithFiles(new FileEntry { Path = "/a", Contents = new Resource { Source = "https://example.test/a", Verification = new Verification { Hash = "sha512-" + new string('a', 128) } } }));

    [Fact]
    public void A_hash_without_a_source_is_an_error() =>
        AssertError(WithFiles(new FileEntry { Path = "/a", Contents = new Resource { Verification = new Verification { Hash = "sha256-" + new string('0', 64) } } }),
            "$.storage.files[0].contents.verification.hash", "without a source");

    [Fact]
    public void A_hash_that_does_not_match_inline_data_is_an_error() =>
        AssertError(WithFiles(new FileEntry { Path = "/a", Contents = new Resource { Source = "data:,abc", Verification = new Verification { Hash = "sha256-" + new string('0', 64) } } }),
            "$.storage.files[0].contents.verification.hash", "does not match");

    [Fact]
    public void A_hash_of_the_decompressed_inline_data_is_fine()
    {
        var contents = DataUrl.ForContents(Encoding.UTF8.GetBytes(new string('k', 10_000)));
        var hash = "sha256-" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(new string('k', 10_000))));
        AssertNoProblems(WithFiles(new FileEntry { Path = "/a", Contents = contents with { Verification = new Verification { Hash = hash } } }));
    }

    [Fact]
    public void An_unsupported_source_scheme_is_an_error() =>
        AssertError(WithFiles(new FileEntry { Path = "/a", Contents = new Resource { Source = "ftp://example.test/a" } }), "$.storage.files[0].contents.source", "unsupported source");

    [Fact]
    public void Http_headers_on_a_data_source_are_an_error() =>
        AssertError(WithFiles(new FileEntry { Path = "/a", Contents = new Resource { Source = "data:,x", HttpHeaders = [new HttpHeader { Name = "A", Value = "b" }] } }),
            "$.storage.files[0].contents.httpHeaders", "http and https");

    [Fact]
    public void Overwrite_without_a_source_is_an_error() =>
        AssertError(WithFiles(new FileEntry { Path = "/a", Overwrite = true }), "$.storage.files[0].overwrite", "no source");

    [Theory]
    [InlineData(-1)]
    [InlineData(4096)]
    public void A_mode_outside_0_to_07777_is_an_error(int mode) =>
        AssertError(WithFiles(File("/a") with { Mode = mode }), "$.storage.files[0].mode", "outside");

    [Fact]
    public void A_mode_of_07777_is_fine() => AssertNoProblems(WithFiles(File("/a") with { Mode = 0xFFF }));

    [Fact]
    public void An_owner_with_both_id_and_name_is_an_error() =>
        AssertError(WithFiles(File("/a") with { User = new NodeUser { Id = 0, Name = "root" } }), "$.storage.files[0].user", "either id or name");

    // --- systemd ---

    [Theory]
    [InlineData("kubelet")]
    [InlineData("kubelet.conf")]
    [InlineData("kubelet.Service")]
    public void A_unit_name_without_a_systemd_suffix_is_an_error(string name) =>
        AssertError(WithUnits(new Unit { Name = name }), "$.systemd.units[0].name", "suffix");

    [Theory]
    [InlineData("a.service")] [InlineData("a.socket")] [InlineData("a.device")] [InlineData("a.mount")] [InlineData("a.automount")] [InlineData("a.swap")]
    [InlineData("a.target")] [InlineData("a.path")] [InlineData("a.timer")] [InlineData("a.snapshot")] [InlineData("a.slice")] [InlineData("a.scope")]
    [InlineData("getty@tty1.service")]
    public void A_unit_name_with_a_systemd_suffix_is_fine(string name) => AssertNoProblems(WithUnits(new Unit { Name = name }));

    [Fact]
    public void A_dropin_not_ending_in_conf_is_an_error() =>
        AssertError(WithUnits(new Unit { Name = "a.service", Dropins = [new Dropin { Name = "10-x.service" }] }), "$.systemd.units[0].dropins[0].name", ".conf");

    [Theory]
    [InlineData("ExecStart=/bin/true\n", "before any [Section]")]
    [InlineData("[Service]\nthis is not an option\n", "line 2")]
    [InlineData("[Service\nExecStart=/bin/true\n", "malformed section header")]
    [InlineData("[]\n", "malformed section header")]
    [InlineData("[Service]\n=value\n", "not a valid option name")]
    public void Unit_contents_that_do_not_parse_are_an_error(string contents, string messagePart) =>
        AssertError(WithUnits(new Unit { Name = "a.service", Contents = contents }), "$.systemd.units[0].contents", messagePart);

    [Fact]
    public void Unit_contents_with_comments_blank_lines_and_continuations_parse()
    {
        const string contents = "# a comment\n; another\n\n[Unit]\nDescription=Kubelet\n\n[Service]\nExecStart=/usr/bin/kubelet \\\n  --config=/etc/kubernetes/kubelet.yaml \\\n  --v=2\nEnvironment=\"A=b c\"\n\n[Install]\nWantedBy=multi-user.target\n";
        AssertNoProblems(WithUnits(new Unit { Name = "kubelet.service", Enabled = true, Contents = contents }));
    }

    [Fact]
    public void Dropin_contents_that_do_not_parse_are_an_error() =>
        AssertError(WithUnits(new Unit { Name = "a.service", Dropins = [new Dropin { Name = "10.conf", Contents = "Environment=A=b\n" }] }),
            "$.systemd.units[0].dropins[0].contents", "before any [Section]");

    [Fact]
    public void A_file_at_a_units_path_is_an_error() =>
        AssertError(Config() with { Storage = new Storage { Files = [File("/etc/systemd/system/kubelet.service")] }, Systemd = new Systemd { Units = [new Unit { Name = "kubelet.service" }] } },
            "$.systemd.units[0].name", "same path");

    [Fact]
    public void A_file_at_a_dropins_path_is_an_error() =>
        AssertError(Config() with
        {
            Storage = new Storage { Files = [File("/etc/systemd/system/kubelet.service.d/10.conf")] },
            Systemd = new Systemd { Units = [new Unit { Name = "kubelet.service", Dropins = [new Dropin { Name = "10.conf", Contents = "[Service]\n" }] }] },
        }, "$.systemd.units[0].dropins[0].name", "same path");

    [Fact]
    public void An_enabled_unit_without_an_install_section_is_a_warning()
    {
        var problem = Assert.Single(IgnitionValidator.Validate(WithUnits(new Unit { Name = "a.service", Enabled = true, Contents = "[Service]\nExecStart=/bin/true\n" })));
        Assert.Equal(IgnitionSeverity.Warning, problem.Severity);
        Assert.Equal("$.systemd.units[0].contents", problem.Path);
        Assert.Contains("[Install]", problem.Message);
    }

    [Fact]
    public void A_disabled_unit_without_an_install_section_is_fine() =>
        AssertNoProblems(WithUnits(new Unit { Name = "a.service", Contents = "[Service]\nExecStart=/bin/true\n" }));

    // --- ThrowIfInvalid ---

    [Fact]
    public void ThrowIfInvalid_lists_every_error()
    {
        var config = WithFiles(File("relative"), File("/a") with { Mode = 99999 });
        var e = Assert.Throws<IgnitionValidationException>(() => IgnitionValidator.ThrowIfInvalid(config));
        Assert.Equal(2, e.Errors.Count);
        Assert.Contains("$.storage.files[0].path", e.Message);
        Assert.Contains("$.storage.files[1].mode", e.Message);
    }

    [Fact]
    public void ThrowIfInvalid_lets_warnings_through()
    {
        var config = WithUnits(new Unit { Name = "a.service", Enabled = true, Contents = "[Service]\n" });
        Assert.Contains(IgnitionValidator.Validate(config), p => p.Severity == IgnitionSeverity.Warning);
        Assert.Null(Record.Exception(() => IgnitionValidator.ThrowIfInvalid(config)));
    }
}
