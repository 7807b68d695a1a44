#!/bin/sh
# Throughput of the gateway parsers (ingress_nginx, caddy, envoy, traefik) against the nginx
# access parser, on the same machine in one run: the same LINES generated requests (90% ok,
# 7% retried, 3% failed, three hosts) written in each format, one file at a time (removed
# once read: disk space), each read by `--one-shot`; checks that every request was counted.
#   scripts/bench_gateways.sh [LINES]    (needs: python3, /usr/bin/time; builds --release)
set -eu
LINES=${1:-1000000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
W=$(mktemp -d /tmp/bench_gateways.XXXXXX)
trap 'rm -rf "$W"' EXIT
BIN=$HERE/target/release/gateway-exporter

(cd "$HERE" && cargo build --release --quiet)
cat > "$W/gen.py" <<'PY'
import random, sys
w, n, only = sys.argv[1], int(sys.argv[2]), sys.argv[3]
r = random.Random(1)
ups = ["10.0.0.5:8080", "10.0.0.6:8080", "10.0.0.7:8080"]
def pick():
    """(final status, tries as (addr, status, secs)) with nginx's ratios: 90% ok, 7% retried, 3% failed."""
    k = r.random()
    if k < 0.9:
        return 200, [(r.choice(ups), 200, r.random())]
    if k < 0.97:
        return 200, [(ups[0], 502, 0.001), (ups[1], 200, r.random())]
    return 502, [(ups[0], 502, 0.001)]
def join(tries, i):
    return ", ".join(str(t[i]) if i != 2 else f"{t[2]:.3f}" for t in tries)
class Skip:
    def write(self, _):
        pass
    def close(self):
        pass
files = {k: open(f"{w}/{k}.log", "w") if k == only else Skip() for k in ("nginx", "ingress", "caddy", "envoy", "traefik")}
for i in range(n):
    status, tries = pick()
    host = f"shop{i % 3}.example.test"
    ua = "Mozilla/5.0"
    t = f"22/Nov/2026:00:{i % 60:02d}:00 +0000"
    files["nginx"].write(
        f'192.0.2.{i % 254 + 1} - - [{t}] "GET /p/{i % 97} HTTP/1.1" {status} 612 "-" "{ua}" {host} '
        f'ua="{join(tries, 0)}" us="{join(tries, 1)}" urt="{join(tries, 2)}"\n')
    files["ingress"].write(
        f'192.0.2.{i % 254 + 1} - - [{t}] "GET /p/{i % 97} HTTP/1.1" {status} 612 "-" "{ua}" 420 0.012 '
        f'[default-shop{i % 3}-80] [] {join(tries, 0)} {", ".join("612" for _ in tries)} {join(tries, 2)} {join(tries, 1)} 5f1c{i:08x}\n')
    if status == 502:
        files["caddy"].write(
            '{"level":"error","ts":1796163437.2,"logger":"http.log.error.log0","msg":"dial tcp 10.0.0.5:8080: connect: connection refused",'
            f'"request":{{"remote_ip":"192.0.2.1","remote_port":"60742","proto":"HTTP/1.1","method":"GET","host":"{host}","uri":"/p/{i % 97}","headers":{{"User-Agent":["{ua}"],"Accept":["*/*"]}}}},'
            '"duration":0.0004,"status":502,"err_id":"jnkjfcfqt","err_trace":"reverseproxy.statusError (reverseproxy.go:1272)"}\n')
    files["caddy"].write(
        '{"level":"info","ts":1796163437.2,"logger":"http.log.access.log0","msg":"handled request",'
        f'"request":{{"remote_ip":"192.0.2.1","remote_port":"60742","proto":"HTTP/1.1","method":"GET","host":"{host}","uri":"/p/{i % 97}","headers":{{"Accept":["*/*"],"User-Agent":["{ua}"]}}}},'
        f'"user_id":"","duration":0.0012,"size":612,"status":{status},"resp_headers":{{"Server":["Caddy"]}}}}\n')
    last = tries[-1]
    flags = "UF,URX" if status == 502 else ("-" if len(tries) == 1 else "URX")
    files["envoy"].write(
        f'[2026-11-22T00:00:{i % 60:02d}.310Z] "GET /p/{i % 97} HTTP/1.1" {503 if status == 502 else 200} {flags} 0 612 3 '
        f'{int(last[2] * 1000)} "192.0.2.1" "{ua}" "cc21d9b0-cf5c-432b-8c7e-{i:012x}" "{host}" "{last[0]}"\n')
    files["traefik"].write(
        f'{{"ClientHost":"192.0.2.1","DownstreamContentSize":{11 if status == 502 else 612},"DownstreamStatus":{status},"Duration":3100000,'
        f'"OriginContentSize":612,"OriginDuration":{int(last[2] * 1e9)},"OriginStatus":{last[1]},"RequestHost":"{host}","RequestMethod":"GET",'
        f'"RequestPath":"/p/{i % 97}","RetryAttempts":{len(tries) - 1},"RouterName":"shop{i % 3}@docker","ServiceName":"shop@docker",'
        f'"ServiceURL":"http://{last[0]}","StartUTC":"2026-11-22T00:00:00Z","entryPointName":"web","level":"info","msg":"","time":"2026-11-22T00:00:00Z"}}\n')
for f in files.values():
    f.close()
PY
cat > "$W/nginx.yml" <<YML
logs:
  - path: $W/nginx.log
    format: nginx_access
    name: bench
    log_format: '\$remote_addr - \$remote_user [\$time_local] "\$request" \$status \$body_bytes_sent "\$http_referer" "\$http_user_agent" \$host ua="\$upstream_addr" us="\$upstream_status" urt="\$upstream_response_time"'
YML
for f in ingress:ingress_nginx caddy:caddy envoy:envoy traefik:traefik; do
    printf 'logs:\n  - {path: %s/%s.log, format: %s, name: bench}\n' "$W" "${f%%:*}" "${f#*:}" > "$W/${f%%:*}.yml"
done
printf '%s lines per format (caddy: plus one error entry per failed request)\n' "$LINES"
for name in nginx ingress caddy envoy traefik; do
    python3 "$W/gen.py" "$W" "$LINES" "$name"
    cat "$W/$name.log" > /dev/null   # in the page cache for everyone
    /usr/bin/time -f '%e %M' -o "$W/$name.time" "$BIN" --config.file "$W/$name.yml" --one-shot > "$W/$name.out"
    python3 - "$W" "$name" <<'PY'
import sys
w, name = sys.argv[1], sys.argv[2]
secs, kb = map(float, open(f"{w}/{name}.time").read().split()[-2:])
lines = sum(1 for _ in open(f"{w}/{name}.log"))
def total(family):
    return sum(float(l.split()[-1]) for l in open(f"{w}/{name}.out") if l.startswith(family + "{"))
responses, errors = total("gateway_http_responses_total"), total("gateway_upstream_errors_total")
unrecognised = total("gateway_log_lines_unrecognised_total")
print(f"  {name:8} {secs:6.2f} s {lines / max(secs, 0.005):12,.0f} lines/s  peak RSS {kb / 1024:5.1f} MB"
      f"  responses {responses:.0f}, errors {errors:.0f}, unrecognised {unrecognised:.0f}")
requests = lines - (errors if name == "caddy" else 0)
if responses != requests or unrecognised:
    print(f"  MISMATCH: {requests:.0f} requests")
    sys.exit(1)
PY
    rm "$W/$name.log" "$W/$name.out"
done
