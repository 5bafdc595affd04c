#!/usr/bin/env bash
# Render benchmark: a cluster of 3 control-plane machines + 100 workers rendered from scratch by Provisioner
# (in process and through the CLI), next to openssl generating and signing the same keys (ECDSA P-256) in one
# run. Prints both and the ratio. Run by hand from the repository root: bench/render.sh
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
workers="${WORKERS:-100}"

mkdir -p "$work/profiles"
cp -r "$root/ignition-templates" "$work/ignition-templates"
cp "$root/profiles/cluster.yaml" "$root/profiles/roles.yaml" "$work/profiles/"
{
  echo "machines:"
  echo "  - {name: bootstrap-0, role: bootstrap, select: {mac: '52:54:00:00:10:01'}, network: {address: 192.0.2.20/24}}"
  for i in 0 1 2; do
    printf "  - {name: cp-%d, role: control-plane, select: {mac: '52:54:00:00:20:%02x'}, network: {address: 192.0.2.%d/24}}\n" "$i" "$i" $((21 + i))
  done
  for ((i = 0; i < workers; i++)); do
    printf "  - {name: worker-%d, role: worker, select: {mac: '52:54:00:01:%02x:%02x'}}\n" "$i" $((i / 256)) $((i % 256))
  done
} >"$work/profiles/machines.yaml"

echo "building..." >&2
dotnet build -c Release "$root/bench/Render" -o "$work/bin" >/dev/null
dotnet build -c Release "$root/src/Provisioner" -o "$work/cli" >/dev/null
# ReadyToRun: precompiled code for Provisioner and its libraries, so start-up does not JIT YamlDotNet, Fluid, …
dotnet publish -c Release -r linux-x64 --self-contained false -p:PublishReadyToRun=true "$root/src/Provisioner" -o "$work/cli-r2r" >/dev/null

ms() { date +%s%N | cut -c1-13; }

echo "== Provisioner, in process (3 control-plane + $workers workers, from scratch)"
dotnet "$work/bin/Render.dll" "$work/profiles" "$work/cluster-inproc" | tee "$work/inproc.txt"
keys=$(sed -n 's/.*keys=\([0-9]*\).*/\1/p' "$work/inproc.txt")
render_ms=$(sed -n 's/^render_ms=//p' "$work/inproc.txt")

echo "== Provisioner CLI (provisioner render, including .NET start-up)"
start=$(ms)
dotnet "$work/cli/provisioner.dll" render --profiles "$work/profiles" --out "$work/cluster-cli" | tail -1
cli_ms=$(($(ms) - start))
echo "cli_wall_ms=$cli_ms"

echo "== Provisioner CLI published ReadyToRun"
start=$(ms)
dotnet "$work/cli-r2r/provisioner.dll" render --profiles "$work/profiles" --out "$work/cluster-r2r" | tail -1
r2r_ms=$(($(ms) - start))
echo "cli_r2r_wall_ms=$r2r_ms"

echo "== openssl: $keys P-256 keys, 3 self-signed CAs, $((keys - 4)) signed leaves (sa has no certificate)"
o="$work/openssl"
mkdir -p "$o"
start=$(ms)
for ca in ca etcd-ca front-proxy-ca; do
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$o/$ca.key" 2>/dev/null
  openssl req -x509 -new -key "$o/$ca.key" -subj "/CN=$ca" -days 3650 -out "$o/$ca.crt" 2>/dev/null
done
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$o/sa.key" 2>/dev/null
for ((i = 0; i < keys - 4; i++)); do
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$o/leaf$i.key" 2>/dev/null
  openssl req -new -key "$o/leaf$i.key" -subj "/CN=leaf$i" -out "$o/leaf$i.csr" 2>/dev/null
  openssl x509 -req -in "$o/leaf$i.csr" -CA "$o/ca.crt" -CAkey "$o/ca.key" -CAcreateserial -days 365 -out "$o/leaf$i.crt" 2>/dev/null
done
openssl_ms=$(($(ms) - start))
echo "openssl_wall_ms=$openssl_ms"

echo "== summary"
awk -v r="$render_ms" -v c="$cli_ms" -v q="$r2r_ms" -v o="$openssl_ms" 'BEGIN {
  printf "render (in process) %d ms, provisioner render CLI %d ms (ReadyToRun %d ms), openssl %d ms\n", r, c, q, o
  printf "ratio in-process/openssl %.2fx, CLI/openssl %.2fx, ReadyToRun CLI/openssl %.2fx (target <= 1.5x; full render < 2000 ms)\n", r / o, c / o, q / o
}'
uptime
