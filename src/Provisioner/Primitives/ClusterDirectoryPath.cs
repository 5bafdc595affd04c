namespace Provisioner.Primitives;

/// <summary>
/// The absolute path of the rendered cluster directory (PKI, tokens, machine state), resolved once by the
/// composition so that each capability receives the one value it needs instead of the whole server settings.
/// </summary>
internal sealed record ClusterDirectoryPath
{
    public ClusterDirectoryPath(string path) => FullPath = System.IO.Path.GetFullPath(path);

    public string FullPath { get; }

    public override string ToString() => FullPath;
}
