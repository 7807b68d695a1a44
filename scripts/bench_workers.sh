#!/usr/bin/env bash
# Time one /metrics scrape with N PHP-FPM pools configured (default 50), each scraped over
# FastCGI on its own unix socket, plus the kernel backlog and the limit from the pool file.
# Needs root (php-fpm runs its pools as www-data), php8.2-fpm, curl, and hyperfine if present.
#   scripts/bench_workers.sh [pools]        BIN=target/release/gateway-exporter to skip the build
set -euo pipefail
cd "$(dirname "$0")/.."
POOLS=${1:-50}
BIN=${BIN:-target/release/gateway-exporter}
[ -x "$BIN" ] || cargo build --release --quiet
DIR=$(mktemp -d /tmp/bench-workers.XXXXXX)
chmod 755 "$DIR"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT

{
  printf '[global]\npid = %s/fpm.pid\nerror_log = %s/fpm.log\ndaemonize = no\n' "$DIR" "$DIR"
  for i in $(seq 1 "$POOLS"); do
    printf '[p%s]\nuser = www-data\ngroup = www-data\nlisten = %s/p%s.sock\nlisten.owner = www-data\n' "$i" "$DIR" "$i"
    printf 'pm = static\npm.max_children = 1\npm.status_path = /status\n'
  done
} > "$DIR/php-fpm.conf"
{
  echo "workers:"
  for i in $(seq 1 "$POOLS"); do
    echo "- {kind: phpfpm, name: p$i, address: 'unix:$DIR/p$i.sock', config_file: '$DIR/php-fpm.conf'}"
  done
} > "$DIR/exporter.yml"

php-fpm8.2 -F -y "$DIR/php-fpm.conf" -p "$DIR" 2>"$DIR/fpm.stderr" & pids+=($!)
for _ in $(seq 1 200); do [ -S "$DIR/p$POOLS.sock" ] && break; sleep 0.05; done
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN" --config.file "$DIR/exporter.yml" --web.listen-address "127.0.0.1:$PORT" 2>"$DIR/exporter.stderr" & pids+=($!)
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/-/healthy" >/dev/null && break; sleep 0.05; done

up=$(curl -s "http://127.0.0.1:$PORT/metrics" | grep -c '^gateway_worker_up{.*} 1$' || true)
echo "pools up: $up of $POOLS"
if command -v hyperfine >/dev/null; then
  hyperfine -N --warmup 3 --runs 50 "curl -s -o /dev/null http://127.0.0.1:$PORT/metrics"
else
  for _ in 1 2 3 4 5; do curl -s -o /dev/null -w 'scrape: %{time_total}s\n' "http://127.0.0.1:$PORT/metrics"; done
fi
curl -s "http://127.0.0.1:$PORT/metrics" | grep 'scrape_collector_duration_seconds{collector="workers"}'
