namespace Provisioner.Assets;

/// <summary>Where the static assets (kernels, initrds, rootfs images) live on disk.</summary>
/// <param name="Root">Directory served under <c>/assets/</c>; nothing outside it is ever served.</param>
internal sealed record AssetsOptions(string Root);
