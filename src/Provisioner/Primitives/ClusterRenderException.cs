namespace Provisioner.Primitives;

/// <summary>The cluster cannot be rendered from these profiles or files; the message says what to fix.</summary>
internal sealed class ClusterRenderException(string message, Exception? inner = null) : Exception(message, inner);
