#!/usr/bin/env bash
# TFTP benchmark: Provisioner's built-in TFTP server against Debian's tftpd-hpa, side by side in one run.
#   1. Throughput: ROUNDS sequential downloads of ipxe.efi with atftp (blksize 1428, windowsize 16) from each server.
#   2. Load: CLIENTS concurrent atftp downloads of ipxe.efi from each server; every file must be complete and
#      byte-identical to the original.
# Both servers run on 127.0.0.1 on free ports, from a temporary root; nothing else is touched.
# Usage: bench/pxe.sh [ROUNDS] [CLIENTS]      (defaults 50, 200). Needs: dotnet, atftp, tftpd-hpa (in.tftpd), ipxe.
set -euo pipefail

rounds=${1:-50}
clients=${2:-200}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ipxe_efi=$(readlink -f /usr/lib/ipxe/ipxe.efi)

for tool in dotnet atftp in.tftpd; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || { echo "missing $tool (apt-get install atftp tftpd-hpa; .NET SDK)" >&2; exit 1; }
done
[ -f "$ipxe_efi" ] || { echo "missing /usr/lib/ipxe/ipxe.efi (apt-get install ipxe)" >&2; exit 1; }

work=$(mktemp -d /tmp/pxe-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_udp_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

echo "building Provisioner (Release)..."
dotnet build "$repo/src/Provisioner" -c Release -v q -nologo -o "$work/provisioner" >/dev/null

# tftpd-hpa serves a real copy (its chroot cannot follow Debian's ipxe.efi symlink out of the root).
mkdir -m 755 "$work/root"
cp "$ipxe_efi" "$work/root/ipxe.efi"
chmod 644 "$work/root/ipxe.efi"

hpa_port=$(free_udp_port)
/usr/sbin/in.tftpd -L -a "127.0.0.1:$hpa_port" -s "$work/root" -u nobody &
pids+=($!)

prov_port=$(free_udp_port)
dotnet "$work/provisioner/provisioner.dll" serve --profiles "$repo/profiles" --assets "$repo/assets" \
  --cluster-dir "$work/cluster" --no-approver --listen 127.0.0.1:0 --tftp "127.0.0.1:$prov_port" --log-format json >"$work/provisioner.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q "Application started" "$work/provisioner.log" && break; sleep 0.2; done
grep -q "Application started" "$work/provisioner.log" || { cat "$work/provisioner.log" >&2; exit 1; }

size=$(stat -c %s "$ipxe_efi")
fetch() { # port local-file
  atftp --option "blksize 1428" --option "windowsize 16" -g -r ipxe.efi -l "$2" 127.0.0.1 "$1" >/dev/null 2>&1
}

throughput() { # port label
  local start end secs
  fetch "$1" "$work/warmup-$2"
  start=$(date +%s.%N)
  for i in $(seq "$rounds"); do fetch "$1" "$work/seq-$2"; done
  end=$(date +%s.%N)
  cmp -s "$work/seq-$2" "$ipxe_efi" || { echo "$2: downloaded file differs" >&2; exit 1; }
  secs=$(echo "$end - $start" | bc -l)
  echo "$secs"
}

concurrent() { # port label → "ok/total seconds"
  local dir="$work/conc-$2" start end ok=0
  mkdir "$dir"
  start=$(date +%s.%N)
  local cpids=()
  for i in $(seq "$clients"); do fetch "$1" "$dir/$i" & cpids+=($!); done
  for pid in "${cpids[@]}"; do wait "$pid" || true; done
  end=$(date +%s.%N)
  for i in $(seq "$clients"); do cmp -s "$dir/$i" "$ipxe_efi" && ok=$((ok + 1)); done
  echo "$ok $(echo "$end - $start" | bc -l)"
}

echo "file: ipxe.efi ($size bytes); atftp --option 'blksize 1428' --option 'windowsize 16'"
echo
prov_secs=$(throughput "$prov_port" provisioner)
hpa_secs=$(throughput "$hpa_port" hpa)
mib() { echo "scale=2; $rounds * $size / $1 / 1048576" | bc -l; }
printf '%-28s %8s %10s\n' "sequential ($rounds downloads)" "seconds" "MiB/s"
printf '%-28s %8.2f %10s\n' "provisioner" "$prov_secs" "$(mib "$prov_secs")"
printf '%-28s %8.2f %10s\n' "tftpd-hpa" "$hpa_secs" "$(mib "$hpa_secs")"
printf 'ratio provisioner/tftpd-hpa throughput: %.2f\n' "$(echo "$hpa_secs / $prov_secs" | bc -l)"
echo

read -r prov_ok prov_csecs < <(concurrent "$prov_port" provisioner)
read -r hpa_ok hpa_csecs < <(concurrent "$hpa_port" hpa)
printf '%-28s %14s %8s\n' "concurrent ($clients clients)" "complete+equal" "seconds"
printf '%-28s %14s %8.2f\n' "provisioner" "$prov_ok/$clients" "$prov_csecs"
printf '%-28s %14s %8.2f\n' "tftpd-hpa" "$hpa_ok/$clients" "$hpa_csecs"
[ "$prov_ok" -eq "$clients" ] || { echo "FAIL: provisioner completed $prov_ok of $clients" >&2; exit 1; }
