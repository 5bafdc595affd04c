using Provisioner.Ignition;

namespace Provisioner.Tests.Ignition;

public class IgnitionValidatorJsonTests
{
    [Fact]
    public void Malformed_json_is_an_error()
    {
        var problem = Assert.Single(IgnitionValidator.Validate("""{"ignition": {"version": "3.4.0"}"""));
        Assert.Equal(IgnitionSeverity.Error, problem.Severity);
        Assert.Contains("not valid JSON", problem.Message);
    }

    [Fact]
    public void A_json_array_is_an_error() =>
        Assert.Contains("JSON object", Assert.Single(IgnitionValidator.Validate("[]")).Message);

    [Fact]
    public void A_missing_ignition_section_is_an_error() =>
        Assert.Equal(IgnitionSeverity.Error, Assert.Single(IgnitionValidator.Validate("""{"storage":{}}""")).Severity);

    [Fact]
    public void A_wrongly_typed_value_is_an_error_at_its_path()
    {
        var problem = Assert.Single(IgnitionValidator.Validate("""{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/a","mode":"0644"}]}}"""));
        Assert.Equal(IgnitionSeverity.Error, problem.Severity);
        Assert.Equal("$.storage.files[0].mode", problem.Path);
    }

    [Fact]
    public void An_unknown_key_is_a_warning_at_its_path()
    {
        var problem = Assert.Single(IgnitionValidator.Validate("""{"ignition":{"version":"3.4.0"},"systemd":{"units":[{"name":"a.service","enable":true}]}}"""));
        Assert.Equal(IgnitionSeverity.Warning, problem.Severity);
        Assert.Equal("$.systemd.units[0].enable", problem.Path);
        Assert.Contains("unknown key 'enable'", problem.Message);
    }

    [Fact]
    public void A_key_of_a_newer_spec_is_a_warning_naming_that_spec()
    {
        var problems = IgnitionValidator.Validate("""{"ignition":{"version":"3.1.0"},"storage":{"luks":[{"name":"root","device":"/dev/sda"}]}}""");
        var problem = Assert.Single(problems);
        Assert.Equal(IgnitionSeverity.Warning, problem.Severity);
        Assert.Equal("$.storage.luks", problem.Path);
        Assert.Contains("needs 3.2.0", problem.Message);
    }

    [Fact]
    public void Keys_the_typed_model_does_not_cover_are_known_when_the_spec_has_them() =>
        Assert.Empty(IgnitionValidator.Validate("""{"ignition":{"version":"3.5.0","timeouts":{"httpTotal":10}},"storage":{"luks":[{"name":"root","device":"/dev/sda","cex":{"enabled":true}}]}}"""));

    [Fact]
    public void The_typed_rules_run_on_parsed_json()
    {
        var problem = Assert.Single(IgnitionValidator.Validate("""{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"etc/hosts"}]}}"""));
        Assert.Equal("$.storage.files[0].path", problem.Path);
        Assert.Equal(IgnitionSeverity.Error, problem.Severity);
    }

    [Fact]
    public void Json_of_a_spec_older_than_a_feature_it_uses_gets_a_warning_and_an_error()
    {
        var problems = IgnitionValidator.Validate("""{"ignition":{"version":"3.2.0"},"kernelArguments":{"shouldExist":["quiet"]}}""");
        Assert.Contains(problems, p => p is { Severity: IgnitionSeverity.Warning, Path: "$.kernelArguments" });
        Assert.Contains(problems, p => p is { Severity: IgnitionSeverity.Error, Path: "$.kernelArguments" } && p.Message.Contains("3.3.0"));
    }
}
