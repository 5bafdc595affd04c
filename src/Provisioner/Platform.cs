// Provisioner is a Linux server: file modes guard private keys, TFTP/ProxyDHCP bind to Linux interfaces.
[assembly: System.Runtime.Versioning.SupportedOSPlatform("linux")]
