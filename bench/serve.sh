#!/usr/bin/env bash
# Serving benchmark: a boot storm of WORKERS worker machines (plus a bootstrap and a control-plane machine) against
# `provisioner serve`, next to nginx serving the very same bytes from files, in one run.
#   1. Starts `provisioner serve` (Release build) on 127.0.0.1 with generated profiles.
#   2. Fetches every worker's /ignition and /ipxe response once with curl and writes the bytes to files; nginx serves
#      those files on another loopback port under the same URLs (/ignition?mac=…, /ipxe?mac=…). A sample of responses
#      from both servers is compared byte for byte before and after the rounds — except each /ipxe script's one-time
#      ticket, which is new in every answer (same length). Plain-HTTP /ignition is the pointer config (no secrets);
#      the real config goes over TLS once per provisioning round, so it has no steady-state rate to measure.
#   3. Runs wrk (CONNECTIONS connections, a Lua script rotating over the WORKERS MACs) against both servers in
#      interleaved rounds (ROUNDS × SECONDS s per endpoint and server, after a warm-up), and prints req/s and p99 side
#      by side with the ratios. Target: provisioner ≥ 0.8× nginx's req/s, p99 ≤ 1.5× nginx's.
# Everything runs on loopback from a temporary directory, nothing else is touched; it stops by itself.
# Usage: bench/serve.sh   (env: WORKERS=100 ROUNDS=3 SECONDS_PER_ROUND=10 CONNECTIONS=256 THREADS=2 KEEP=1,
#        PROVISIONER_BUILD=dir of a provisioner.dll build to use instead of building this tree)
# Needs: dotnet, curl, nginx, wrk (Debian: apt-get install -y nginx wrk).
set -euo pipefail

workers=${WORKERS:-100}
rounds=${ROUNDS:-3}
secs=${SECONDS_PER_ROUND:-10}
connections=${CONNECTIONS:-256}
threads=${THREADS:-2}
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

for tool in dotnet curl wrk; do command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install -y nginx wrk curl; .NET SDK)" >&2; exit 1; }; done
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$nginx_bin" ] || { echo "missing nginx (apt-get install -y nginx)" >&2; exit 1; }

work=$(mktemp -d /tmp/serve-bench.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && { echo "kept $work" >&2; return; }
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
cpu_seconds() { # pid... → user+system CPU seconds of those processes
  local total=0 t
  for p in "$@"; do
    t=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)
    total=$((total + t))
  done
  echo "scale=2; $total / $(getconf CLK_TCK)" | bc
}

if [ -n "${PROVISIONER_BUILD:-}" ]; then
  cp -r "$PROVISIONER_BUILD" "$work/provisioner" # a build made elsewhere (say of an older commit, to compare)
else
  echo "building Provisioner (Release)..." >&2
  dotnet build "$repo/src/Provisioner" -c Release -v q -nologo -o "$work/provisioner" >/dev/null
fi

# Profiles: the example cluster and roles, one bootstrap, one control-plane and $workers worker machines.
mkdir -p "$work/profiles"
cp -r "$repo/ignition-templates" "$work/ignition-templates"
cp "$repo/profiles/cluster.yaml" "$repo/profiles/roles.yaml" "$work/profiles/"
macs=()
{
  echo "machines:"
  echo "  - {name: bootstrap-0, role: bootstrap, select: {mac: '52:54:00:00:10:01'}, network: {address: 192.0.2.20/24}}"
  echo "  - {name: cp-0, role: control-plane, select: {mac: '52:54:00:00:20:01'}, network: {address: 192.0.2.21/24}}"
  for ((i = 0; i < workers; i++)); do
    printf "  - {name: worker-%d, role: worker, select: {mac: '52:54:00:01:%02x:%02x'}}\n" "$i" $((i / 256)) $((i % 256))
  done
} >"$work/profiles/machines.yaml"
for ((i = 0; i < workers; i++)); do macs+=("$(printf '52-54-00-01-%02x-%02x' $((i / 256)) $((i % 256)))"); done

prov_port=$(free_port)
dotnet "$work/provisioner/provisioner.dll" serve --profiles "$work/profiles" --templates "$work/ignition-templates" --assets "$repo/assets" \
  --cluster-dir "$work/cluster" --no-approver --listen "127.0.0.1:$prov_port" --listen-tls "127.0.0.1:$(free_port)" --log-format json >"$work/provisioner.log" 2>&1 &
prov_pid=$!
pids+=("$prov_pid")
for _ in $(seq 300); do grep -q "Application started" "$work/provisioner.log" && break; sleep 0.2; done
grep -q "Application started" "$work/provisioner.log" || { cat "$work/provisioner.log" >&2; exit 1; }

# The exact bytes of every worker's responses, as files nginx serves under the same URLs.
mkdir -p "$work/www/ignition" "$work/www/ipxe"
for mac in "${macs[@]}"; do
  curl -sf -o "$work/www/ignition/$mac" "http://127.0.0.1:$prov_port/ignition?mac=$mac"
  curl -sf -o "$work/www/ipxe/$mac" "http://127.0.0.1:$prov_port/ipxe?mac=$mac"
done
chmod -R a+rX "$work/www"

nginx_port=$(free_port)
mkdir -p "$work/nginx/tmp"
cat >"$work/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 4096; }
http {
  access_log $work/nginx/access.log;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/tmp;
  proxy_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  uwsgi_temp_path $work/nginx/tmp;
  scgi_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/www;
    location = /ignition { default_type "application/vnd.coreos.ignition+json;version=3.4.0"; try_files /ignition/\$arg_mac =404; }
    location = /ipxe { default_type "text/plain; charset=utf-8"; try_files /ipxe/\$arg_mac =404; }
  }
}
EOF
"$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" -g 'daemon off;' &
pids+=($!)
for _ in $(seq 50); do curl -sf -o /dev/null "http://127.0.0.1:$nginx_port/ipxe?mac=${macs[0]}" && break; sleep 0.1; done
nginx_pids() { pgrep -P "$(cat "$work/nginx/nginx.pid")" | tr '\n' ' '; cat "$work/nginx/nginx.pid"; }

mask_ticket() { sed -E 's/ticket=[A-Za-z0-9_-]+/ticket=T/g'; }
same_bytes() { # compare a sample of responses from both servers byte for byte
  local mac path
  for mac in "${macs[0]}" "${macs[$((workers / 2))]}" "${macs[$((workers - 1))]}"; do
    for path in ignition ipxe; do
      cmp -s <(curl -sf "http://127.0.0.1:$prov_port/$path?mac=$mac" | mask_ticket) <(curl -sf "http://127.0.0.1:$nginx_port/$path?mac=$mac" | mask_ticket) \
        || { echo "/$path?mac=$mac differs between provisioner and nginx" >&2; exit 1; }
    done
  done
}
same_bytes

# wrk: each connection's requests rotate over every worker's MAC; done() prints req/s, p99 (ms) and non-2xx count.
for path in ignition ipxe; do
  {
    printf 'local macs = {'
    printf '"%s",' "${macs[@]}"
    printf '}\n'
    cat <<EOF
local i = math.random(#macs)
request = function()
  i = i % #macs + 1
  return wrk.format("GET", "/$path?mac=" .. macs[i])
end
done = function(summary, latency, requests)
  local bad = summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout
  io.write(string.format("RESULT %.0f %.2f %d\n", summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000, bad))
end
EOF
  } >"$work/$path.lua"
done

run() { # port path seconds → "req/s p99ms errors"
  wrk -t"$threads" -c"$connections" -d"${3}s" --timeout 5s -s "$work/$2.lua" "http://127.0.0.1:$1" | awk '/^RESULT/ {print $2, $3, $4}'
}

echo "warm-up (5 s per server and endpoint)..." >&2
for path in ignition ipxe; do run "$prov_port" "$path" 5 >/dev/null; run "$nginx_port" "$path" 5 >/dev/null; done

echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "other processes using CPU now: $(ps -eo pcpu,comm --sort=-pcpu | awk 'NR > 1 && $1 > 5 {printf "%s(%s%%) ", $2, $1}')"
printf '%-9s %5s | %10s %10s %6s | %9s %9s %6s | %s\n' endpoint round "prov req/s" "nginx r/s" ratio "prov p99" "nginx p99" ratio errors
results="$work/results.txt"
prov_cpu=0
nginx_cpu=0
for ((r = 1; r <= rounds; r++)); do
  for path in ignition ipxe; do
    c0=$(cpu_seconds "$prov_pid")
    read -r pr pp pe < <(run "$prov_port" "$path" "$secs")
    c1=$(cpu_seconds "$prov_pid")
    n0=$(cpu_seconds $(nginx_pids))
    read -r nr np ne < <(run "$nginx_port" "$path" "$secs")
    n1=$(cpu_seconds $(nginx_pids))
    prov_cpu=$(echo "$prov_cpu + $c1 - $c0" | bc)
    nginx_cpu=$(echo "$nginx_cpu + $n1 - $n0" | bc)
    echo "$path $r $pr $nr $pp $np" >>"$results"
    printf '%-9s %5d | %10.0f %10.0f %5.2fx | %7.2fms %7.2fms %5.2fx | %s/%s\n' "$path" "$r" "$pr" "$nr" "$(echo "$pr / $nr" | bc -l)" \
      "$pp" "$np" "$(echo "$pp / $np" | bc -l)" "$pe" "$ne"
  done
done
same_bytes
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "CPU seconds during the measured rounds: provisioner $prov_cpu, nginx $nginx_cpu"
echo "machines.json after the rounds (tickets are sealed, so /ipxe writes nothing for a known machine): $(stat -c %s "$work/cluster/state/machines.json") bytes"
awk '
  { n[$1]++; rr[$1] += $3 / $4; pr[$1] += $5 / $6; if (!($1 in minr) || $3 / $4 < minr[$1]) minr[$1] = $3 / $4; if (!($1 in maxp) || $5 / $6 > maxp[$1]) maxp[$1] = $5 / $6 }
  END {
    for (e in n) printf "%-9s mean req/s ratio %.2fx (worst %.2fx, target >= 0.8x), mean p99 ratio %.2fx (worst %.2fx, target <= 1.5x)\n", e, rr[e] / n[e], minr[e], pr[e] / n[e], maxp[e]
  }' "$results"
