namespace Provisioner.Primitives;

/// <summary>A setting (flag, <c>PROVISIONER_*</c> variable or <c>provisioner.yaml</c> key) with a bad value; the message names it.</summary>
internal sealed class SettingsException(string message) : Exception(message);
