// Provisioner is a Linux server (file modes, network namespaces, QEMU); so are its tests.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
