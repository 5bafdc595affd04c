namespace Provisioner.Tests.Ignition;

// The helper itself must be able to fail, or every test relying on it proves nothing.
public class IgnitionSchemaTests
{
    [Fact]
    public async Task A_minimal_config_is_valid()
    {
        await IgnitionSchema.AssertValidAsync("""{"ignition":{"version":"3.4.0"}}""", "3.4.0");
    }

    [Fact]
    public async Task A_config_without_the_ignition_section_is_reported()
    {
        Assert.NotEmpty(await IgnitionSchema.ErrorsAsync("""{"storage":{}}""", "3.4.0"));
    }

    [Fact]
    public async Task A_file_with_a_wrongly_typed_mode_is_reported()
    {
        var errors = await IgnitionSchema.ErrorsAsync("""{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/a","mode":"0644"}]}}""", "3.4.0");
        Assert.True(errors.Any(e => e.Contains("mode")), string.Join(" / ", errors));
    }
}
