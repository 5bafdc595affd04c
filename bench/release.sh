#!/usr/bin/env bash
# Release mirror benchmark (run by hand, not while tests run): the same bytes served by Provisioner and by
# nginx (Debian nginx-light, sendfile on) side by side in one run, on loopback.
#   1. a 1 GiB boot artifact: Provisioner /assets/sha256/<hex> vs nginx, 32 concurrent clients (wrk)
#   2. an image layer blob: Provisioner /v2/<name>/blobs/<digest> vs nginx, 32 concurrent clients (wrk),
#      and one `skopeo copy` of the image through /v2/ vs one `curl` of the same blob from nginx.
# Each comparison alternates Provisioner and nginx for ROUNDS rounds (default 3) and sums the bytes, so load from
# elsewhere on the machine hits both sides alike.
# Usage: bench/release.sh [DURATION_SECONDS_PER_RUN]   (needs: dotnet, nginx-light, wrk, skopeo, curl, python3)
set -euo pipefail

duration="${1:-20}"
rounds="${ROUNDS:-3}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/provisioner-bench-release.XXXXXX)"
chmod 755 "$work" # nginx workers run as an unprivileged user
p_port=18480
n_port=18481
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for tool in dotnet nginx wrk skopeo curl python3; do
  command -v "$tool" >/dev/null || { echo "missing: $tool (apt-get install nginx-light wrk skopeo curl)" >&2; exit 1; }
done

echo "== building Provisioner (Release)"
dotnet build -c Release -v q --nologo "$repo/src/Provisioner" >/dev/null
provisioner="$repo/src/Provisioner/bin/Release/net10.0/provisioner"

echo "== preparing 1 GiB artifact and a 256 MiB image layer in $work"
mkdir -p "$work/www" "$work/assets" "$work/layout"
head -c 1073741824 /dev/urandom > "$work/www/artifact.bin"
python3 - "$work" <<'PY'
import hashlib, json, os, sys, tarfile
work = sys.argv[1]
layout = os.path.join(work, "layout")
blobs = os.path.join(layout, "blobs", "sha256")
os.makedirs(blobs, exist_ok=True)
payload = os.path.join(work, "payload.bin")
with open(payload, "wb") as f:
    f.write(os.urandom(256 << 20))
layer = os.path.join(work, "layer.tar")
with tarfile.open(layer, "w", format=tarfile.PAX_FORMAT) as t:
    t.add(payload, arcname="payload.bin")
def put(data_or_path, media):
    if isinstance(data_or_path, bytes):
        data = data_or_path
        digest = hashlib.sha256(data).hexdigest()
        open(os.path.join(blobs, digest), "wb").write(data)
        size = len(data)
    else:
        h = hashlib.sha256()
        with open(data_or_path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
        os.rename(data_or_path, os.path.join(blobs, digest))
        size = os.path.getsize(os.path.join(blobs, digest))
    return {"mediaType": media, "digest": "sha256:" + digest, "size": size}
layer_desc = put(layer, "application/vnd.oci.image.layer.v1.tar")
config = json.dumps({"architecture": "amd64", "os": "linux",
                     "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]}}).encode()
config_desc = put(config, "application/vnd.oci.image.config.v1+json")
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "config": config_desc, "layers": [layer_desc]}).encode()
manifest_desc = put(manifest, "application/vnd.oci.image.manifest.v1+json")
json.dump({"schemaVersion": 2, "manifests": [manifest_desc]}, open(os.path.join(layout, "index.json"), "w"))
open(os.path.join(layout, "oci-layout"), "w").write('{"imageLayoutVersion":"1.0.0"}')
open(os.path.join(work, "layer.digest"), "w").write(layer_desc["digest"])
PY
layer_digest="$(cat "$work/layer.digest")"
layer_hex="${layer_digest#sha256:}"
cp "$work/layout/blobs/sha256/$layer_hex" "$work/www/layer.bin"

# The artifact enters the store the way operators do it: a release sync from a file:// source.
artifact_hex="$(sha256sum "$work/www/artifact.bin" | cut -d' ' -f1)"
cp -r "$repo/profiles" "$work/profiles"
cp -r "$repo/ignition-templates" "$work/ignition-templates"
python3 - "$work" "$artifact_hex" <<'PY'
import sys
work, hex_ = sys.argv[1], sys.argv[2]
images = "".join(
    f"    {c}: {{image: registry.k8s.io/{r}, digest: \"sha256:{'0'*63}{i}\"}}\n"
    for i, (c, r) in enumerate([("kube-apiserver", "kube-apiserver:v1.31.2"), ("kube-controller-manager", "kube-controller-manager:v1.31.2"),
                                ("kube-scheduler", "kube-scheduler:v1.31.2"), ("kube-proxy", "kube-proxy:v1.31.2"),
                                ("pause", "pause:3.10"), ("etcd", "etcd:3.5.15-0"), ("coredns", "coredns/coredns:v1.11.3")]))
open(f"{work}/profiles/release.yaml", "w").write(
    "release:\n  kubernetesVersion: v1.31.2\n  images:\n" + images +
    f"  artifacts:\n    x86_64:\n      bench/artifact.bin:\n        url: file://{work}/www/artifact.bin\n        sha256: {hex_}\n")
PY
"$provisioner" release sync --profiles "$work/profiles" --store "$work/store" | tail -1
"$provisioner" release import-image "$work/layout" bench/layer:1 --store "$work/store"

echo "== starting Provisioner on 127.0.0.1:$p_port and nginx on 127.0.0.1:$n_port"
"$provisioner" serve --profiles "$work/profiles" --assets "$work/assets" --store "$work/store" \
  --cluster-dir "$work/cluster" --no-approver --listen "127.0.0.1:$p_port" --log-format json >"$work/provisioner.log" 2>&1 &
pids+=($!)
cat >"$work/nginx.conf" <<NGINX
worker_processes auto;
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  client_body_temp_path $work/nginx-tmp;
  proxy_temp_path $work/nginx-tmp;
  fastcgi_temp_path $work/nginx-tmp;
  uwsgi_temp_path $work/nginx-tmp;
  scgi_temp_path $work/nginx-tmp;
  default_type application/octet-stream;
  server { listen 127.0.0.1:$n_port; root $work/www; }
}
NGINX
mkdir -p "$work/nginx-tmp"
nginx -c "$work/nginx.conf" -p "$work" &
pids+=($!)
for _ in $(seq 1 100); do
  curl -fs -o /dev/null "http://127.0.0.1:$p_port/healthz" && curl -fs -o /dev/null -r 0-0 "http://127.0.0.1:$n_port/artifact.bin" && break
  sleep 0.2
done

# Warm the page cache for both files so neither side pays the first read.
cat "$work/store/blobs/sha256/$artifact_hex" "$work/www/artifact.bin" "$work/www/layer.bin" >/dev/null

# wrk prints "Transfer/sec: 1.23GB"; normalise to MiB/s.
mibs() {
  awk '/Transfer\/sec/ { v=$2; u=v; sub(/[0-9.]+/, "", u); sub(/[A-Za-z]+$/, "", v);
        f = (u=="GB") ? 1024 : (u=="MB") ? 1 : (u=="KB") ? 1/1024 : 1/1048576; printf "%.0f", v*f }'
}
run_wrk() { wrk -t2 -c32 -d"${duration}s" --timeout 60s "$1" | tee -a "$work/wrk.log" | mibs; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

# compare LABEL PROVISIONER_URL NGINX_URL: alternating rounds; sets p_mean and n_mean (MiB/s).
compare() {
  local p_sum=0 n_sum=0 p n
  for r in $(seq 1 "$rounds"); do
    p="$(run_wrk "$2")"
    n="$(run_wrk "$3")"
    echo "  round $r: provisioner $p MiB/s   nginx $n MiB/s"
    p_sum=$((p_sum + p)); n_sum=$((n_sum + n))
  done
  p_mean=$((p_sum / rounds)); n_mean=$((n_sum / rounds))
  echo "$1: provisioner $p_mean MiB/s   nginx $n_mean MiB/s   ratio $(ratio "$p_mean" "$n_mean")"
}

echo "== 1 GiB artifact, 32 concurrent clients, ${duration}s per run, $rounds rounds"
compare "artifact /assets/sha256" "http://127.0.0.1:$p_port/assets/sha256/$artifact_hex" "http://127.0.0.1:$n_port/artifact.bin"
p_art=$p_mean; n_art=$n_mean

echo "== 256 MiB layer blob, 32 concurrent clients, ${duration}s per run, $rounds rounds"
compare "blob /v2/bench/layer/blobs" "http://127.0.0.1:$p_port/v2/bench/layer/blobs/$layer_digest" "http://127.0.0.1:$n_port/layer.bin"
p_blob=$p_mean; n_blob=$n_mean

echo "== one client: skopeo copy through /v2/ vs curl of the same blob from nginx"
export HOME="$work/home" XDG_RUNTIME_DIR="$work/home"
mkdir -p "$HOME"
echo '{"default":[{"type":"insecureAcceptAnything"}]}' >"$work/policy.json"
layer_mib=$(( $(stat -c %s "$work/www/layer.bin") / 1048576 ))
t0=$(date +%s.%N)
skopeo --policy "$work/policy.json" copy -q --src-tls-verify=false --src-no-creds \
  "docker://127.0.0.1:$p_port/bench/layer:1" "dir:$work/skopeo-out"
t1=$(date +%s.%N)
curl -fs -o "$work/curl-out.bin" "http://127.0.0.1:$n_port/layer.bin"
t2=$(date +%s.%N)
curl -fs -o "$work/curl-v2.bin" "http://127.0.0.1:$p_port/v2/bench/layer/blobs/$layer_digest"
t3=$(date +%s.%N)
s_rate=$(awk -v m="$layer_mib" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.0f", m / (b - a) }')
c_rate=$(awk -v m="$layer_mib" -v a="$t1" -v b="$t2" 'BEGIN { printf "%.0f", m / (b - a) }')
v_rate=$(awk -v m="$layer_mib" -v a="$t2" -v b="$t3" 'BEGIN { printf "%.0f", m / (b - a) }')
echo "skopeo copy via /v2 (verifies digest, writes dir:): $s_rate MiB/s   curl via /v2: $v_rate MiB/s   curl from nginx: $c_rate MiB/s"
cmp -s "$work/curl-v2.bin" "$work/www/layer.bin" && echo "blob via /v2 identical to the nginx copy"

echo
echo "SUMMARY artifact_provisioner=$p_art artifact_nginx=$n_art artifact_ratio=$(ratio "$p_art" "$n_art") blob_provisioner=$p_blob blob_nginx=$n_blob blob_ratio=$(ratio "$p_blob" "$n_blob") skopeo_v2=$s_rate curl_v2=$v_rate curl_nginx=$c_rate (MiB/s)"
