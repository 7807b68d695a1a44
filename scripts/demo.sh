#!/usr/bin/env bash
# Watch one scenario end to end: nginx in front of a small PHP app, the exporter following
# nginx's error log, checking the app's port and probing the site, Prometheus running the
# shipped rules and Alertmanager the shipped routes and inhibit rules. Then the app crashes:
# the script prints what the client sees, what /probe and /metrics say, which alerts fire,
# which one pages (the others are inhibited) and its runbook; last, `diagnose` says it in words.
#
# Run as root on Debian after ./scripts/test.sh installed the packages. Everything listens on
# 127.0.0.1 and is stopped on exit. Ports: DEMO_PORT_BASE (default 18080) .. +4.
# The rules' `for:` durations are shortened to 10s so the demo takes about a minute
# (the shipped file says 1m for GatewayUpstreamDown, 5m for the log alerts).
set -euo pipefail
cd "$(dirname "$0")/.."

base=${DEMO_PORT_BASE:-18080}
site=$base app=$((base + 1)) exporter=$((base + 2)) prom=$((base + 3)) am=$((base + 4))

for tool in cargo nginx php curl jq prometheus prometheus-alertmanager amtool; do
  command -v "$tool" >/dev/null || { echo "demo: $tool is missing: run ./scripts/test.sh first" >&2; exit 2; }
done

work=$(mktemp -d /tmp/gateway-demo.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
wait_http() { # url, what
  for _ in $(seq 1 100); do curl -fsS -o /dev/null "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "demo: $2 did not start (logs in $work)" >&2; exit 1
}

say "Building the exporter"
cargo build --quiet --bin gateway-exporter
bin=target/debug/gateway-exporter

say "Starting the app (php -S 127.0.0.1:$app) and nginx (127.0.0.1:$site -> app)"
echo '<?php echo "hello from the app\n";' > "$work/index.php"
php -S "127.0.0.1:$app" -t "$work" "$work/index.php" >"$work/app.log" 2>&1 &
app_pid=$!
pids+=("$app_pid")
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log info;
daemon off;
events { worker_connections 64; }
http {
  access_log $work/nginx/access.log;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$site;
    server_name shop.test;
    location / { proxy_pass http://127.0.0.1:$app; }
  }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)
wait_http "http://127.0.0.1:$site/" "nginx and the app"

say "Starting the exporter on 127.0.0.1:$exporter"
cat > "$work/exporter.yml" <<EOF
logs:
  - {path: $work/nginx/error.log, format: nginx_error, name: nginx}
upstreams:
  - {address: '127.0.0.1:$app', timeout: 500ms}
probes:
  - {name: shop, url: 'http://127.0.0.1:$site/', interval: 2s, timeout: 2s}
modules:
  http_2xx: {prober: http, timeout: 3s}
probe_endpoint: {allowed_targets: ['127.0.0.1']}
EOF
"$bin" --config.file "$work/exporter.yml" --web.listen-address "127.0.0.1:$exporter" 2>"$work/exporter.log" &
pids+=($!)
wait_http "http://127.0.0.1:$exporter/metrics" "the exporter"

say "Starting Prometheus (127.0.0.1:$prom) and Alertmanager (127.0.0.1:$am)"
sed -E 's/^( +for: )[0-9]+[smh]$/\110s/' alerts/gateway-exporter.rules.yml > "$work/rules.yml"
cat > "$work/prometheus.yml" <<EOF
global: {scrape_interval: 2s, evaluation_interval: 2s}
rule_files: [$work/rules.yml]
alerting:
  alertmanagers: [{static_configs: [{targets: ['127.0.0.1:$am']}]}]
scrape_configs:
  - job_name: gateway
    static_configs: [{targets: ['127.0.0.1:$exporter']}]
EOF
prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --web.listen-address="127.0.0.1:$prom" >"$work/prometheus.log" 2>&1 &
pids+=($!)
# The shipped routes and inhibit rules; receivers without a destination (nothing is sent).
sed -e '/^templates:/,/^$/d' -e '/^receivers:/,$d' alertmanager/alertmanager.yml > "$work/alertmanager.yml"
printf 'receivers:\n  - name: pager\n  - name: tickets\n  - name: blackhole\n' >> "$work/alertmanager.yml"
prometheus-alertmanager --config.file="$work/alertmanager.yml" --storage.path="$work/am" \
  --web.listen-address="127.0.0.1:$am" --cluster.listen-address= >"$work/alertmanager.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$prom/-/ready" "Prometheus"
wait_http "http://127.0.0.1:$am/-/ready" "Alertmanager"

say "Healthy: the client gets"
curl -s -o /dev/null -w 'HTTP %{http_code}\n' "http://127.0.0.1:$site/"

say "Breaking it: the app crashes (kill $app_pid)"
kill "$app_pid"
# A little traffic, as real users would send.
( while true; do curl -s -o /dev/null "http://127.0.0.1:$site/"; sleep 0.2; done ) &
pids+=($!)
sleep 3

say "What the client sees"
curl -s -o /dev/null -w 'HTTP %{http_code}\n' "http://127.0.0.1:$site/"

say "/probe: who generated the error (layer, vendor) and why"
curl -s "http://127.0.0.1:$exporter/probe?module=http_2xx&target=http://127.0.0.1:$site/" \
  | grep -E '^probe_(success|http_status_code|failure_info)'

say "/metrics: the log cause, the upstream check, the scheduled probe"
curl -s "http://127.0.0.1:$exporter/metrics" \
  | grep -E '^gateway_(upstream_errors_total|upstream_up|upstream_down_info|probe_failure_info)' || true

say "Waiting for alerts (rules' for: shortened to 10s)"
firing=""
for _ in $(seq 1 60); do
  firing=$(curl -s "http://127.0.0.1:$prom/api/v1/query" --data-urlencode 'query=ALERTS{alertstate="firing"}' \
    | jq -r '[.data.result[].metric.alertname] | unique | join(" ")')
  case " $firing " in *" GatewayUpstreamConnectionRefused "*) break ;; esac
  sleep 2
done
echo "Firing in Prometheus: ${firing:-none}"
sleep 3

say "Alertmanager: what pages, and what is inhibited as a symptom of it"
curl -s "http://127.0.0.1:$am/api/v2/alerts" | jq -r '.[] |
  "\(if (.status.inhibitedBy | length) > 0 then "inhibited" else "ACTIVE   " end)  \(.labels.alertname)  severity=\(.labels.severity)  \(.annotations.summary)\n           runbook: \(.annotations.runbook_url)"'

say "diagnose: the verdict in words (exit 1: a fault was found)"
"$bin" diagnose --config.file "$work/exporter.yml" || echo "(diagnose exited $?)"
echo "The same, served: http://127.0.0.1:$exporter/diagnose, runbooks at /runbooks/<AlertName>"

say "Done: cleaning up (the files were in $work)"
