namespace Provisioner.Primitives;

/// <summary>
/// An exclusive lock on a file beside a store (<c>&lt;file&gt;.lock</c>, flock underneath), so that <c>serve</c>
/// and <c>provisioner render</c> on one cluster directory never overwrite each other's changes.
/// </summary>
internal static class FileLock
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    /// <summary>Holds the lock of <paramref name="storePath"/> until the returned stream is disposed.</summary>
    public static async Task<FileStream> AcquireAsync(string storePath, CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(storePath)!, AtomicFile.DirectoryMode);
        // Wall-clock patience, not an injected clock: a test's frozen time must not turn this into a hang.
        var waited = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(storePath + ".lock", new FileStreamOptions
                {
                    Mode = FileMode.OpenOrCreate, Access = FileAccess.ReadWrite, Share = FileShare.None, UnixCreateMode = AtomicFile.PrivateMode,
                });
            }
            catch (IOException) when (waited.Elapsed < Patience)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(20), cancellationToken);
            }
        }
    }
}
