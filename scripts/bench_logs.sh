#!/bin/sh
# Log throughput: gateway-exporter --one-shot vs mtail --one_shot vs grep -c, on the same
# generated 1,000,000-line nginx error log, in one run; checks our counts against the
# generator's expected counts; then the access-log parser on 1,000,000 generated lines.
#   scripts/bench_logs.sh [LINES]    (needs: python3, mtail, /usr/bin/time; builds --release)
set -eu
LINES=${1:-1000000}
HERE=$(cd "$(dirname "$0")/.." && pwd)
BENCH=${BENCH_DIR:-$HERE/../shared/bench}
W=$(mktemp -d /tmp/bench_logs.XXXXXX)
trap 'rm -rf "$W"' EXIT
BIN=$HERE/target/release/gateway-exporter

(cd "$HERE" && cargo build --release --quiet)
python3 "$BENCH/gen_nginx_error_log.py" "$LINES" "$W/error.log"
mkdir -p "$W/progs" && cp "$BENCH/nginx_error.mtail" "$W/progs/"
printf 'logs:\n  - {path: %s/error.log, format: nginx_error, name: bench}\n' "$W" > "$W/error.yml"
cat "$W/error.log" > /dev/null   # same page cache for everyone

# run NAME CMD...: wall seconds and peak RSS (KB) into $W/NAME.time
run() {
    name=$1; shift
    /usr/bin/time -f '%e %M' -o "$W/$name.time" "$@" > "$W/$name.out" 2> "$W/$name.err"
}
run grep grep -c -E 'upstream|limiting|resolve' "$W/error.log" || true
run ours "$BIN" --config.file "$W/error.yml" --one-shot
run mtail mtail --progs "$W/progs" --logs "$W/error.log" --one_shot --one_shot_format prometheus

python3 - "$W" "$LINES" <<'PY'
import json, re, sys
w, lines = sys.argv[1], int(sys.argv[2])
expected = json.load(open(f"{w}/error.log.expected.json"))
def counts(path, pattern):
    c = {}
    for l in open(path):
        m = re.match(pattern, l)
        if m:
            c[m.group(1)] = c.get(m.group(1), 0) + int(float(m.group(2)))
    return c
ours = counts(f"{w}/ours.out", r'gateway_upstream_errors_total\{.*cause="(\w+)"\} (\S+)')
mtail = counts(f"{w}/mtail.out", r'gateway_upstream_errors_total\{cause="(\w+)".*\} (\S+)')
t = {n: tuple(map(float, open(f"{w}/{n}.time").read().split()[-2:])) for n in ("grep", "ours", "mtail")}
print(f"{lines} nginx error.log lines")
for n in ("ours", "mtail", "grep"):
    secs, kb = t[n]
    print(f"  {n:6} {secs:7.2f} s  {lines / max(secs, 0.005):12,.0f} lines/s  peak RSS {kb / 1024:6.1f} MB")
print(f"  ours vs mtail: {t['mtail'][0] / max(t['ours'][0], 0.005):.0f}x lines/s, {t['mtail'][1] / t['ours'][1]:.1f}x less RSS;"
      f" ours vs grep -c: {t['ours'][0] / max(t['grep'][0], 0.005):.2f}x the time")
print(f"  counts: ours {'==' if ours == expected else '!='} expected"
      f", mtail {'==' if mtail == expected else '!='} expected")
if ours != expected:
    print("  MISMATCH", {k: (ours.get(k), expected.get(k)) for k in set(ours) | set(expected) if ours.get(k) != expected.get(k)})
    sys.exit(1)
PY

# Access log: nginx's upstream_time format with multi-try upstream lists.
python3 - "$W/access.log" "$LINES" <<'PY'
import random, sys
out, n = sys.argv[1], int(sys.argv[2])
r = random.Random(1)
ups = ["10.0.0.5:8080", "10.0.0.6:8080", "unix:/run/php/php8.2-fpm.sock"]
with open(out, "w") as f:
    for i in range(n):
        k = r.random()
        if k < 0.9:
            ua, us, ut, st = r.choice(ups), "200", f"{r.random():.3f}", 200
        elif k < 0.97:
            ua, us, ut, st = f"{ups[0]}, {ups[1]}", "502, 200", f"0.001, {r.random():.3f}", 200
        else:
            ua, us, ut, st = f"{ups[0]} : {ups[1]}", "502 : 503", "0.001 : 0.002", 503
        f.write(f'192.0.2.{r.randint(1, 254)} - - [22/Nov/2026:00:{i % 60:02d}:00 +0000] "GET /p/{i % 97} HTTP/1.1" {st} {r.randint(100, 9000)} '
                f'"-" "Mozilla/5.0" shop{i % 3}.example.test rt=0.{i % 1000:03d} uct="0.000" uht="0.001" urt="{ut}" ua="{ua}" us="{us}"\n')
PY
cat > "$W/access.yml" <<YML
logs:
  - path: $W/access.log
    format: nginx_access
    name: bench
    log_format: '\$remote_addr - \$remote_user [\$time_local] "\$request" \$status \$body_bytes_sent "\$http_referer" "\$http_user_agent" \$host rt=\$request_time uct="\$upstream_connect_time" uht="\$upstream_header_time" urt="\$upstream_response_time" ua="\$upstream_addr" us="\$upstream_status"'
YML
cat "$W/access.log" > /dev/null
run access "$BIN" --config.file "$W/access.yml" --one-shot
python3 - "$W" "$LINES" <<'PY'
import re, sys
w, lines = sys.argv[1], int(sys.argv[2])
secs, kb = map(float, open(f"{w}/access.time").read().split()[-2:])
total = sum(float(l.split()[-1]) for l in open(f"{w}/access.out") if l.startswith("gateway_http_responses_total{"))
print(f"{lines} nginx access.log lines (upstream_time format, multi-try lists)")
print(f"  ours   {secs:7.2f} s  {lines / max(secs, 0.005):12,.0f} lines/s  peak RSS {kb / 1024:6.1f} MB  responses counted: {total:.0f}")
if total != lines:
    sys.exit(1)
PY
