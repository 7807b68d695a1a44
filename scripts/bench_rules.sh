#!/bin/sh
# Rule cost at fleet size: a real Prometheus scrapes HOSTS synthetic exporters (VHOSTS sites each,
# shaped by docs/metrics.md, a few hosts broken: scripts/fleet_gen.py) every 15s and evaluates
# the rules every 15s for MINUTES, then reports prometheus_rule_group_last_duration_seconds per
# group (average and max over the last 5 minutes), missed iterations, head series, the alerts
# of the broken hosts (firing, pending or missing) and what one host costs.
#
#   scripts/bench_rules.sh [HOSTS [VHOSTS [MINUTES]]]      (defaults 400 40 20)
#
# Environment:
#   RULES=file     rules to measure (default: alerts/gateway-exporter.rules.yml)
#   HISTORY=1      backfill, before the run, the history every long window and offset of RULES
#                  reads (`fleet_gen.py needs`: up to 3 days), with `promtool tsdb
#                  create-blocks-from openmetrics`, so 30m/1h/6h/1d windows are full from the
#                  first round. HISTORY=0 starts empty (windows fill as the run goes).
#   STEP=60        seconds between backfilled samples. Live samples come every 15s; raw
#                  counters backfilled at 60s hold a quarter of the samples a real 6h window
#                  holds, so a raw long window measures low (a lower bound). STEP=15 is exact
#                  and four times the data.
#   OUT=dir        where the JSON report goes (default: the work directory, removed at exit)
# Needs: python3, prometheus, promtool, curl. Writes into $TMPDIR (default /tmp): with
# HISTORY=1 one 2-hour slice of OpenMetrics at a time (about 2 GB for 400x40 at STEP=60 while
# a raw family with a 6h window is in it), and far less of blocks.
set -eu
HOSTS=${1:-400}
VHOSTS=${2:-40}
MINUTES=${3:-20}
HERE=$(cd "$(dirname "$0")/.." && pwd)
RULES=${RULES:-$HERE/alerts/gateway-exporter.rules.yml}
HISTORY=${HISTORY:-1}
STEP=${STEP:-60}
GEN="python3 $HERE/scripts/fleet_gen.py"
W=$(mktemp -d "${TMPDIR:-/tmp}/bench_rules.XXXXXX")
OUT=${OUT:-$W}
PIDS=""
cleanup() {
    for pid in $PIDS; do kill "$pid" 2>/dev/null || true; done
    for pid in $PIDS; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
GEN_PORT=$(free_port)
PROM_PORT=$(free_port)
NOW=$(date +%s)
# Counters run from two days before the run; the live scenarios start now.
MODEL="--hosts $HOSTS --vhosts $VHOSTS --origin $((NOW - 3 * 86400 - 3600)) --break-at $NOW"
mkdir -p "$W/data" "$OUT"
$GEN sd --hosts "$HOSTS" > "$W/targets.json"
$GEN expect $MODEL > "$W/expect.json"
promtool check rules "$RULES" > /dev/null

if [ "$HISTORY" = 1 ]; then
    $GEN backfill $MODEL --rules "$RULES" --data "$W/data" --step "$STEP"
    echo "blocks: $(du -sh "$W/data" | cut -f1)"
fi

cat > "$W/prometheus.yml" <<YML
global: {scrape_interval: 15s, scrape_timeout: 10s, evaluation_interval: 15s}
rule_files: ["$RULES"]
scrape_configs:
  - job_name: prometheus
    static_configs: [{targets: ["127.0.0.1:$PROM_PORT"]}]
  # Every host is a target of its own: \`instance\` is the host's name, the generator answers
  # for it on one port.
  - job_name: gateway
    file_sd_configs: [{files: ["$W/targets.json"]}]
    relabel_configs:
      - {source_labels: [__address__], target_label: instance}
      - {source_labels: [__address__], target_label: __param_host}
      - {target_label: __address__, replacement: "127.0.0.1:$GEN_PORT"}
YML
$GEN serve $MODEL --port "$GEN_PORT" 2> "$W/gen.log" &
GEN_PID=$!
PIDS="$PIDS $GEN_PID"
# The generator checks every host's series against docs/metrics.md first: a fleet it refuses
# must stop the run, not leave Prometheus scraping dead targets for MINUTES.
i=0
until curl -sf "http://127.0.0.1:$GEN_PORT/metrics?host=h0000:9150" > /dev/null; do
    kill -0 "$GEN_PID" 2>/dev/null || { echo "the fleet generator exited:" >&2; tail -20 "$W/gen.log" >&2; exit 1; }
    i=$((i + 1)); [ $i -lt 600 ] || { echo "the fleet generator does not answer" >&2; exit 1; }
    sleep 1
done
prometheus --config.file="$W/prometheus.yml" --storage.tsdb.path="$W/data" \
    --storage.tsdb.retention.time=30d --web.listen-address="127.0.0.1:$PROM_PORT" \
    > "$W/prometheus.log" 2>&1 &
PIDS="$PIDS $!"
i=0
until curl -sf "http://127.0.0.1:$PROM_PORT/-/ready" > /dev/null; do
    i=$((i + 1)); [ $i -lt 300 ] || { tail -20 "$W/prometheus.log"; exit 1; }
    sleep 1
done
echo "running $HOSTS hosts x $VHOSTS vhosts for $MINUTES minutes (load $(cut -d' ' -f1-3 /proc/loadavg))"
# The report samples every rule's cost for the last 5 minutes of the run.
[ "$MINUTES" -gt 5 ] || { echo "MINUTES must be 6 or more" >&2; exit 2; }
sleep $((MINUTES * 60 - 300))
kill -0 "$GEN_PID" 2>/dev/null || { echo "the fleet generator exited during the run:" >&2; tail -20 "$W/gen.log" >&2; exit 1; }
$GEN report --prometheus "http://127.0.0.1:$PROM_PORT" --hosts "$HOSTS" --vhosts "$VHOSTS" \
    --rules "$RULES" --dashboards "$HERE"/dashboards/*.json --expect "$W/expect.json" \
    --json "$OUT/bench_rules-$HOSTS-$VHOSTS.json"
grep -iE "level=(error|warn)" "$W/prometheus.log" | grep -v "Error on ingesting out-of-order" | tail -5 || true
