#!/usr/bin/env bash
# Probe cost, ours against Debian's prometheus-blackbox-exporter, in one run on one machine:
# both probe the same local nginx target through /probe, 8 requests at a time (wrk), and we
# read each exporter's CPU time (utime+stime from /proc) and peak RSS (VmHWM) around the run.
# Usage: scripts/bench_probe.sh [seconds per exporter, default 15]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-15}
for b in nginx wrk prometheus-blackbox-exporter; do
  command -v "$b" >/dev/null || [ -x "/usr/bin/$b" ] || { echo "missing $b: run ./scripts/test.sh first (installs it)" >&2; exit 2; }
done
cargo build --release --quiet
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
target_port=$(free_port); ours_port=$(free_port); bb_port=$(free_port)
mkdir -p "$work/logs"
cat > "$work/nginx.conf" <<NGINX
worker_processes 1; pid $work/nginx.pid; error_log $work/error.log; daemon on;
events { worker_connections 1024; }
http { access_log off; client_body_temp_path $work/b; proxy_temp_path $work/p; fastcgi_temp_path $work/f;
       uwsgi_temp_path $work/u; scgi_temp_path $work/s;
       server { listen 127.0.0.1:$target_port; location / { return 200 "ok\n"; } } }
NGINX
nginx -p "$work" -c "$work/nginx.conf"

cat > "$work/blackbox.yml" <<YAML
modules:
  http_2xx: {prober: http, timeout: 5s, http: {preferred_ip_protocol: ip4}}
YAML
cat > "$work/ours.yml" <<YAML
modules:
  http_2xx: {prober: http, timeout: 5s, http: {preferred_ip_protocol: ip4}}
probe_endpoint: {allowed_targets: ["127.0.0.1"]}
YAML
prometheus-blackbox-exporter --config.file="$work/blackbox.yml" --web.listen-address="127.0.0.1:$bb_port" 2>/dev/null &
bb_pid=$!
target/release/gateway-exporter --config.file "$work/ours.yml" --web.listen-address "127.0.0.1:$ours_port" --log.level warn &
ours_pid=$!
sleep 1

cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{print ($14+$15)/hz}' "/proc/$1/stat"; }
rss_kb() { awk '/^'"$2"':/{print $2}' "/proc/$1/status"; }

measure() { # name pid port
  local idle cpu0 cpu1 out reqs
  idle=$(rss_kb "$2" VmRSS)
  cpu0=$(cpu_seconds "$2")
  out=$(wrk -t2 -c8 -d"${secs}s" "http://127.0.0.1:$3/probe?module=http_2xx&target=http://127.0.0.1:$target_port/")
  cpu1=$(cpu_seconds "$2")
  reqs=$(awk '/requests in/{print $1}' <<<"$out")
  python3 - "$1" "$reqs" "$cpu0" "$cpu1" "$idle" "$(rss_kb "$2" VmHWM)" <<'PY'
import sys
name, reqs, c0, c1, idle, peak = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
per1000 = (c1 - c0) / reqs * 1000
print(f"{name:10s} probes={reqs:7d} cpu_s_per_1000={per1000:.3f} idle_rss_mb={idle/1024:.1f} peak_rss_mb={peak/1024:.1f}")
open(f"/tmp/bench_probe_{name}.txt", "w").write(f"{per1000} {idle} {peak}\n")
PY
}
measure blackbox "$bb_pid" "$bb_port"
measure ours "$ours_pid" "$ours_port"
python3 - <<'PY'
bb = [float(x) for x in open("/tmp/bench_probe_blackbox.txt").read().split()]
us = [float(x) for x in open("/tmp/bench_probe_ours.txt").read().split()]
print(f"ratio ours/blackbox: cpu per probe {us[0]/bb[0]:.2f}, idle rss {us[1]/bb[1]:.2f}, peak rss {us[2]/bb[2]:.2f}")
PY
