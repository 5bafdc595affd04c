#!/usr/bin/env bash
# Installs the Debian packages the test suite drives for real (QEMU + iPXE for network boot, busybox for the
# test initramfs (with curl and jq copied in), openssl/etcd for certificates, TFTP clients, dnsmasq + iproute2 + python3 for the ProxyDHCP
# namespace tests, shellcheck, skopeo, nginx for benchmarks; podman, buildah, containerd, runc, systemd-container and
# ignition for the FCOS node-side tests, which run the rendered units, containerd config and bootkube.sh for real;
# chromium + chromium-driver for the web console's browser test).
# Idempotent: installs only what is missing. Needs root or sudo.
set -euo pipefail

packages=(
  qemu-system-x86 ipxe-qemu ovmf ipxe busybox-static cpio xz-utils zstd
  openssl etcd-server etcd-client
  tftp-hpa atftp dnsmasq-base iproute2 python3
  shellcheck skopeo curl jq
  podman buildah containerd runc systemd-container ignition
  chromium chromium-driver
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "test dependencies: all installed"
  exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "need root or sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
echo "test dependencies: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
