#!/usr/bin/env python3
"""A synthetic fleet of gateway-exporters, for scripts/bench_rules.sh.

Every host exposes the families of docs/metrics.md (names, types and label names are read
from that page, and a host's series are checked against it at start), with label values shaped
like a web hosting fleet: hosts in clusters of CLUSTER, each cluster serving its own VHOSTS
sites behind a load balancer, one access log and one error log per host, a PHP-FPM pool and an
nginx worker pool, a few probes. A handful of hosts are broken, one way each (SCENARIOS), so the
alerts have work; `expect` prints the alerts they should raise.

Counters follow a piecewise-constant rate from a fixed origin, so the live series (`serve`) and
the backfilled history (`backfill`: OpenMetrics through `promtool tsdb create-blocks-from
openmetrics`) are one continuous series. Recorded series a rule reads over a long window or
with an offset are backfilled as the rule would have recorded them (Recorded), because raw
history of every family is far too big to write.

  fleet_gen.py serve   --hosts N --vhosts V --port P --origin T --break-at T
  fleet_gen.py sd      --hosts N                           (file_sd targets, JSON)
  fleet_gen.py expect  --hosts N --vhosts V                (broken hosts and their alerts, JSON)
  fleet_gen.py needs   RULES_FILE                          (names read over long windows)
  fleet_gen.py report  --prometheus URL --rules F --expect F --json F   (after a run)
  fleet_gen.py backfill --hosts N --vhosts V --origin T --break-at T --rules F --data DIR
                       --step S    (history of the long windows into a TSDB, with promtool)
"""
import argparse
import http.server
import json
import os
import re
import socketserver
import sys
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
METRICS_DOC = os.path.join(HERE, "..", "docs", "metrics.md")
PORT_SUFFIX = ":9150"
CLUSTER = 10
STATUSES = ["200", "301", "304", "404", "499", "500", "502", "504"]
# Share of a vhost's requests per status on a healthy host: 5xx are 0.02%, under a 99.9% SLO.
STATUS_SHARE = {"200": 0.90, "301": 0.03, "304": 0.04, "404": 0.02, "499": 0.0098,
                "500": 0.0001, "502": 0.00005, "504": 0.00005}
BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0]
HEALTHY_LATENCY = [0.05, 0.15, 0.35, 0.55, 0.75, 0.9, 0.96, 0.985, 0.995, 0.998, 0.999, 1, 1, 1]
SLOW_LATENCY = [0, 0, 0, 0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 0.999, 1]
PHASES = ["resolve", "connect", "tls", "processing", "transfer"]
EVENTS = ["reload", "restart", "worker_start", "worker_exit", "shutdown", "server_down",
          "server_up", "backend_down", "pool_restart", "max_children_reached"]
APP_CAUSES = ["database", "memory_exhausted", "execution_timeout", "php_fatal", "worker_crash", "resource_limit"]
READ_ERRORS = ["permission", "not_a_file", "io", "line_too_long", "invalid_utf8", "too_many_files"]
PROBES_PER_HOST = 4
LOGS = ["access", "error"]
FPM_SOCKET = "unix:/run/php/www.sock"
APP_ADDRESS = "127.0.0.1:8080"

# Broken hosts: scenario -> (host index, the alerts it raises as (alertname, extra labels)).
# `live` scenarios break at --break-at; `history` ones are in the backfilled day only.
SCENARIOS = {
    # h0007 answers about a tenth of its vhost's requests, all 502 from the break: the hour's
    # budget burns 14.4x fast within minutes, the 6 hours' 6x within about 20 (with history;
    # the slow burn is then pending for its 15m `for:` in a run shorter than 40 minutes).
    "connect_refused": (7, "live", [("GatewayUpstreamConnectionRefused", {"vhost": 0}),
                                    ("GatewayVhost5xxBurnRateFast", {"vhost": 0}),
                                    ("GatewayVhost5xxBurnRateSlow", {"vhost": 0})]),
    "upstream_timeout": (53, "live", [("GatewayUpstreamTimeout", {"vhost": 1}),
                                      ("GatewayVhost5xxBurnRateFast", {"vhost": 1})]),
    "pool_saturated": (111, "live", [("GatewayWorkerPoolSaturated", {}),
                                     ("GatewayWorkerQueueBuilding", {})]),
    "pool_down": (164, "live", [("GatewayWorkerPoolDown", {})]),
    "origin_5xx": (209, "live", [("GatewayProbeOriginFailing", {}), ("GatewayProbe5xx", {})]),
    "cdn_failing": (258, "live", [("GatewayProbeCdnFailing", {})]),
    "upstream_down": (301, "live", [("GatewayUpstreamDown", {})]),
    "near_timeout": (347, "live", [("GatewayUpstreamNearTimeout", {"vhost": 2})]),
    "reload_failed": (389, "live", [("GatewayExporterReloadFailed", {})]),
    "maintenance": (23, "live", [("GatewayMaintenanceMode", {})]),
    "overflow": (71, "live", [("GatewayExporterCardinalityOverflow", {})]),
    "unrecognised": (97, "live", [("GatewayExporterUnrecognisedLines", {})]),
    "log_unreadable": (131, "live", [("GatewayExporterLogUnreadable", {})]),
    "status_stalled": (179, "live", [("GatewayWorkerStatusStalled", {})]),
    "limit_reached": (223, "live", [("GatewayWorkerLimitReached", {})]),
    "probe_flapping": (277, "history", [("GatewayProbeFlapping", {})]),
    "errors_recurring": (313, "history", [("GatewayUpstreamErrorsRecurring", {"vhost": 3})]),
    "log_stale": (359, "history", [("GatewayExporterLogStale", {})]),
}
DAY = 86400


def host_name(h):
    return f"h{h:04d}{PORT_SUFFIX}"


def vhost_name(h, v):
    return f"c{h // CLUSTER:03d}-s{v:02d}.example"


SCENARIO_OF = {h: name for name, (h, _, _) in SCENARIOS.items()}


def doc_families(path=METRICS_DOC):
    """name -> (type, [label names]) from the tables of docs/metrics.md."""
    families = {}
    row = re.compile(r"^\| `((?:gateway|process)_\w+)` \| (\w+) \|([^|]*)\|")
    for line in open(path, encoding="utf-8"):
        m = row.match(line)
        if m:
            labels = [l.strip() for l in m.group(3).split(",") if l.strip()]
            families[m.group(1)] = (m.group(2), labels)
    if not families:
        sys.exit(f"no metric tables found in {path}")
    return families


class Counter:
    """A counter with a rate per period: segments of (from time, per-second rate)."""
    __slots__ = ("segments",)

    def __init__(self, *segments):
        self.segments = segments

    def at(self, t):
        return int(self.exact(t))

    def exact(self, t):
        """Events by time t, not rounded down: what a rate over recorded sums sees."""
        total, (start, rate) = 0.0, self.segments[0]
        for nxt_start, nxt_rate in self.segments[1:]:
            if t < nxt_start:
                break
            total += rate * (nxt_start - start)
            start, rate = nxt_start, nxt_rate
        return total + rate * max(0.0, t - start)

    def rate(self, t, window=300):
        return (self.exact(t) - self.exact(t - window)) / window

    def rising(self, t0, t1):
        """Whether any event may fall in (t0, t1]."""
        ends = [s for s, _ in self.segments[1:]] + [float("inf")]
        return any(r > 0 and start < t1 and end > t0 for (start, r), end in zip(self.segments, ends))

    @staticmethod
    def total(counters):
        """One counter counting the events of all of `counters`."""
        starts = sorted({start for c in counters for start, _ in c.segments})
        def rate_at(c, t):
            current = 0.0
            for start, r in c.segments:
                if start > t:
                    break
                current = r
            return current
        return Counter(*[(t, sum(rate_at(c, t) for c in counters)) for t in starts])


class Gauge:
    """A gauge with a value per period: segments of (from time, value)."""
    __slots__ = ("segments",)

    def __init__(self, *segments):
        self.segments = segments

    def at(self, t):
        value = self.segments[0][1]
        for start, v in self.segments[1:]:
            if t < start:
                break
            value = v
        return value


class Host:
    """One exporter's series: family -> [(labels dict, Counter|Gauge)], from `origin`;
    a live scenario changes things from `brk`, a history scenario before it."""

    def __init__(self, h, vhosts, origin, brk):
        self.h, self.origin, self.brk = h, origin, brk
        self.scenario = SCENARIO_OF.get(h)
        self.families = {}
        self.vhosts = [vhost_name(h, v) for v in range(vhosts)]
        self._exporter()
        self._probes()
        self._logs()
        self._workers()

    def add(self, family, labels, model):
        self.families.setdefault(family, []).append((labels, model))

    def live(self, scenario):
        return self.scenario == scenario

    def rate(self, healthy, broken_rate=None, breaks=False):
        """A counter at `healthy` per second, at `broken_rate` from the break if it `breaks`."""
        if breaks:
            return Counter((self.origin, healthy), (self.brk, broken_rate))
        return Counter((self.origin, healthy))

    def _exporter(self):
        self.add("gateway_build_info", {"version": "0.9.0", "revision": "fa056b2", "rustversion": "1.95.0"}, Gauge((0, 1)))
        for c in ("workers", "upstreams", "maintenance"):
            self.add("gateway_scrape_collector_duration_seconds", {"collector": c}, Gauge((0, 0.002)))
            self.add("gateway_scrape_collector_success", {"collector": c}, Gauge((0, 1)))
        failed = self.live("reload_failed")
        self.add("gateway_config_last_reload_successful", {}, Gauge((0, 1), (self.brk, 0 if failed else 1)))
        self.add("gateway_config_last_reload_success_timestamp_seconds", {}, Gauge((0, self.origin)))
        self.add("gateway_config_reloads_total", {}, Counter((self.origin, 0), (self.brk, 1 / 60 if failed else 0)))
        self.add("gateway_config_reload_failures_total", {}, Counter((self.origin, 0), (self.brk, 1 / 60 if failed else 0)))
        self.add("gateway_lock_recoveries_total", {}, Counter((self.origin, 0)))
        self.add("process_cpu_seconds_total", {}, Counter((self.origin, 0.01)))
        for name, value in (("process_resident_memory_bytes", 24e6), ("process_virtual_memory_bytes", 900e6),
                            ("process_open_fds", 40), ("process_max_fds", 1048576),
                            ("process_start_time_seconds", self.origin)):
            self.add(name, {}, Gauge((0, value)))

    def _probes(self):
        for p in range(PROBES_PER_HOST):
            vhost = self.vhosts[p]
            self.add("gateway_probe_info", {"target": vhost, "url": f"https://{vhost}/health",
                                            "origin": APP_ADDRESS, "vhost": vhost}, Gauge((0, 1)))
            self.add("gateway_probe_timeout_seconds", {"target": vhost}, Gauge((0, 10)))
            for path in ("public", "origin"):
                failing = p == 0 and (self.live("origin_5xx") or (self.live("cdn_failing") and path == "public"))
                code = "502" if self.live("origin_5xx") else "522"
                when = self.brk if failing else None
                t = {"target": vhost, "path": path}
                success = Gauge((0, 1), (when, 0)) if when else Gauge((0, 1))
                if p == 0 and path == "public" and self.scenario == "probe_flapping":
                    # Four failures of ten minutes spread over the past day (0 at s=0, back
                    # to 1 at s=1): eight changes.
                    success = Gauge((0, 1), *[(self.brk - k * 3 * 3600 + s * 600, s)
                                              for k in range(4, 0, -1) for s in (0, 1)])
                self.add("gateway_probe_success", t, success)
                self.add("gateway_probe_http_status_code", t, Gauge((0, 200), (when, int(code))) if when else Gauge((0, 200)))
                self.add("gateway_probe_duration_seconds", t, Gauge((0, 0.08)))
                self.add("gateway_probe_cert_expiry_timestamp_seconds", t, Gauge((0, self.origin + 60 * DAY)))
                for phase in PHASES:
                    self.add("gateway_probe_http_duration_seconds", dict(t, phase=phase), Gauge((0, 0.01)))
                self.add("gateway_probes_total", t, Counter((self.origin, 1 / 15)))
                self.add("gateway_probe_responses_total", dict(t, code="200"),
                         self.rate(1 / 15, 0, when))
                if when:
                    layer, vendor = ("app", "nginx") if code == "502" else ("cdn", "cloudflare")
                    fail = dict(t, reason="http_status", layer=layer, vendor=vendor)
                    self.add("gateway_probe_responses_total", dict(t, code=code), Counter((self.origin, 0), (when, 1 / 15)))
                    self.add("gateway_probe_failures_total", fail, Counter((self.origin, 0), (when, 1 / 15)))
                    self.add("gateway_probe_failure_info", dict(fail, code=code), Gauge((0, None), (when, 1)))

    def upstream_of(self, v):
        return APP_ADDRESS if v % 4 == 0 else FPM_SOCKET

    def _logs(self):
        lines = {log: 0.0 for log in LOGS}
        for v, vhost in enumerate(self.vhosts):
            traffic = 0.5 + (self.h * 7 + v * 13) % 20 / 4   # requests per second on this host
            lines["access"] += traffic
            access, error = {"log": "access", "vhost": vhost}, {"log": "error", "vhost": vhost}
            up = self.upstream_of(v)
            breaks = None
            if (self.live("connect_refused") and v == 0) or (self.live("upstream_timeout") and v == 1):
                breaks = "502" if v == 0 else "504"
            responses = []
            for status in STATUSES:
                healthy = traffic * STATUS_SHARE[status]
                if breaks:
                    responses.append(self.rate(healthy, traffic if status == breaks else 0, True))
                else:
                    responses.append(self.rate(healthy))
                self.add("gateway_http_responses_total", dict(access, status=status), responses[-1])
            self.add("gateway_http_requests_total", access, Counter.total(responses))
            shape = SLOW_LATENCY if self.live("near_timeout") and v == 2 else HEALTHY_LATENCY
            for le, share in zip(BUCKETS, shape):
                self.add("gateway_upstream_response_time_seconds_bucket", dict(access, le=repr(le)),
                         self.rate(traffic * share))
            self.add("gateway_upstream_response_time_seconds_bucket", dict(access, le="+Inf"), self.rate(traffic))
            self.add("gateway_upstream_response_time_seconds_count", access, self.rate(traffic))
            self.add("gateway_upstream_response_time_seconds_sum", access, self.rate(traffic * 0.12))
            for status, share in (("200", 0.9998), ("502", 0.0001), ("504", 0.0001)):
                self.add("gateway_upstream_tries_total", dict(access, upstream=up, status=status),
                         self.rate(traffic * share))
            # Error counters exist once a cause was seen: most are old and flat, one vhost in
            # ten has a trickle of resets (one in two minutes: never a 5-minute window without
            # one, so it does not flap), under every alert's threshold.
            for k, cause in enumerate(("timeout", "reset")[: v % 3]):
                trickle = 1 / 120 if v % 10 == 0 and cause == "reset" else 0
                self.add("gateway_upstream_errors_total", dict(error, upstream=up, cause=cause),
                         Counter((self.origin, 0.001), (self.origin + 3600 * (k + 1), trickle)))
            if breaks:
                cause = "connect_refused" if breaks == "502" else "timeout"
                rate = traffic if breaks == "502" else 0.5
                existing = [s for s in self.families.get("gateway_upstream_errors_total", [])
                            if s[0]["vhost"] == vhost and s[0]["cause"] == cause]
                if existing:
                    self.families["gateway_upstream_errors_total"].remove(existing[0])
                self.add("gateway_upstream_errors_total", dict(error, upstream=up, cause=cause),
                         Counter((self.origin, 0), (self.brk, rate)))
            if self.scenario == "errors_recurring" and v == 3:
                # Five episodes of 20 minutes in the past day (history), none now.
                self.add("gateway_upstream_errors_total", dict(error, upstream=up, cause="connect_refused"),
                         Counter((self.origin, 0), *[(self.brk - k * 4 * 3600 + s * 1200, 0.05 * (1 - s))
                                                     for k in range(5, 0, -1) for s in (0, 1)]))
        lines["error"] = 0.2
        for log in LOGS:
            l = {"log": log}
            read = lines[log]
            if self.scenario == "log_stale" and log == "access":
                read_counter = Counter((self.origin, read), (self.brk - 2400, 0))
            else:
                read_counter = self.rate(read)
            self.add("gateway_log_lines_read_total", l, read_counter)
            unrecognised = self.live("unrecognised") and log == "access"
            self.add("gateway_log_lines_classified_total", l, self.rate(read, read * 0.2, unrecognised))
            self.add("gateway_log_lines_unrecognised_total", l, self.rate(0, read * 0.8, unrecognised))
            self.add("gateway_log_bytes_read_total", l, self.rate(read * 230))
            self.add("gateway_log_rotations_total", l, Counter((self.origin, 1 / DAY)))
            self.add("gateway_log_checkpoint_failures_total", l, Counter((self.origin, 0)))
            followed = 0 if self.live("log_unreadable") and log == "error" else 1
            self.add("gateway_log_files_followed", l, Gauge((0, 1), (self.brk, followed)))
            self.add("gateway_log_last_read_timestamp_seconds", l, Gauge((0, self.brk)))
            self.add("gateway_upstream_timeout_seconds", l, Gauge((0, 60)))
            for reason in READ_ERRORS:
                self.add("gateway_log_read_errors_total", dict(l, reason=reason), Counter((self.origin, 0)))
            for label in ("vhost", "upstream", "series"):
                overflowing = self.live("overflow") and log == "access" and label == "vhost"
                self.add("gateway_log_cardinality_overflow_total", dict(l, label=label),
                         self.rate(0, 0.1, overflowing))
        for cause in APP_CAUSES:
            self.add("gateway_app_errors_total", {"log": "error", "vhost": "-", "cause": cause}, Counter((self.origin, 0)))
        for event in EVENTS:
            self.add("gateway_server_events_total", {"log": "error", "event": event},
                     Counter((self.origin, 1 / DAY if event == "reload" else 0)))

    def _workers(self):
        for pool, kind, up in (("www", "phpfpm", FPM_SOCKET), ("nginx", "nginx", "")):
            p = {"pool": pool, "kind": kind}
            if up:
                self.add("gateway_worker_info", dict(p, upstream=up), Gauge((0, 1)))
            down = kind == "phpfpm" and self.live("pool_down")
            saturated = kind == "phpfpm" and self.live("pool_saturated")
            limit = 50 if kind == "phpfpm" else 1024
            self.add("gateway_worker_up", p, Gauge((0, 1), (self.brk, 0 if down else 1)))
            if down:
                self.add("gateway_worker_down_info", dict(p, reason="connect_refused"), Gauge((0, None), (self.brk, 1)))
            # While down there is no status page: the read gauges are absent, as on a real host.
            after = None if down else 0
            busy = limit if saturated else 6
            self.add("gateway_workers", dict(p, state="active"), Gauge((0, 6), (self.brk, None if down else busy)))
            self.add("gateway_workers", dict(p, state="idle"), Gauge((0, limit - 6), (self.brk, None if down else limit - busy)))
            self.add("gateway_workers_inferred", p, Gauge((0, 0), (self.brk, after)))
            self.add("gateway_workers_limit", p, Gauge((0, limit)))
            self.add("gateway_workers_limit_info", dict(p, source="status"), Gauge((0, 1)))
            self.add("gateway_worker_queue", p, Gauge((0, 0), (self.brk, 5 if saturated else 0)))
            self.add("gateway_worker_queue_limit", p, Gauge((0, 511)))
            limited = kind == "phpfpm" and self.live("limit_reached")
            self.add("gateway_worker_limit_reached_total", p, self.rate(0, 1 / 120, limited))
            self.add("gateway_worker_slow_requests_total", p, Counter((self.origin, 1 / 3600)))
            stalled = kind == "phpfpm" and self.live("status_stalled")
            self.add("gateway_worker_status_duration_seconds", p, Gauge((0, 0.003), (self.brk, 3 if stalled else 0.003)))
        self.add("gateway_upstream_info", {"upstream": "app", "address": APP_ADDRESS, "group": "app"}, Gauge((0, 1)))
        down = self.live("upstream_down")
        self.add("gateway_upstream_up", {"upstream": "app"}, Gauge((0, 1), (self.brk, 0 if down else 1)))
        if down:
            self.add("gateway_upstream_down_info", {"upstream": "app", "reason": "connect_refused"}, Gauge((0, None), (self.brk, 1)))
        flag = {"path": "/var/www/maintenance.flag"}
        on = self.live("maintenance")
        self.add("gateway_maintenance_mode", flag, Gauge((0, 0), (self.brk, 1 if on else 0)))
        self.add("gateway_maintenance_info", dict(flag, vhost=self.vhosts[0], target=self.vhosts[0]), Gauge((0, 1)))
        if on:
            self.add("gateway_maintenance_mode_since_timestamp_seconds", flag, Gauge((0, None), (self.brk, self.brk)))
        self.add("gateway_maintenance_max_duration_seconds", flag, Gauge((0, 7200)))

    def check(self, families):
        """Every family this host writes is in docs/metrics.md with the same label names."""
        for name, series in self.families.items():
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            if base not in families:
                sys.exit(f"{name}: not in docs/metrics.md")
            want = set(families[base][1]) | ({"le"} if name.endswith("_bucket") else set())
            for labels, _ in series:
                if set(labels) != want:
                    sys.exit(f"{name}: labels {sorted(labels)}, docs/metrics.md says {sorted(want)}")
        missing = set(families) - {re.sub(r"_(bucket|count|sum)$", "", n) for n in self.families}
        # Series of failures exist only once something failed: absent on a healthy host.
        return sorted(m for m in missing if not m.endswith(
            ("failure_info", "failures_total", "down_info", "since_timestamp_seconds", "cause_info")))


def label_text(labels, instance):
    pairs = [f'{k}="{v}"' for k, v in labels.items()]
    pairs += [f'instance="{instance}"', 'job="gateway"'] if instance else []
    return "{" + ",".join(pairs) + "}" if pairs else ""


def number(v):
    return str(int(v)) if float(v).is_integer() else repr(float(v))


class Exposition:
    """A host's text exposition at a time, with its series' text prepared once."""

    def __init__(self, host, families):
        self.blocks = []
        for name, series in host.families.items():
            base = re.sub(r"_(bucket|count|sum)$", "", name)
            kind = families[base][0]
            rows = [(f"{name}{label_text(labels, None)} ", model) for labels, model in series]
            self.blocks.append((f"# TYPE {base} {kind}\n" if base == name or name.endswith("_bucket") else "", rows))

    def at(self, t):
        out = []
        for head, rows in self.blocks:
            out.append(head)
            for prefix, model in rows:
                v = model.at(t)
                if v is not None:
                    out.append(f"{prefix}{number(v)}\n")
        return "".join(out)


def serve(args):
    import time
    families = doc_families()
    missing = Host(0, args.vhosts, args.origin, args.break_at).check(families)
    if missing:
        print(f"fleet_gen: not generated (see docs/metrics.md): {', '.join(missing)}", file=sys.stderr)
    expositions = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            query = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)
            name = query.get("host", [""])[0]
            m = re.fullmatch(r"h(\d{4})" + PORT_SUFFIX, name)
            if not m or int(m.group(1)) >= args.hosts:
                self.send_error(404, "no such host")
                return
            h = int(m.group(1))
            if h not in expositions:
                expositions[h] = Exposition(Host(h, args.vhosts, args.origin, args.break_at), families)
            body = expositions[h].at(time.time()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_):
            pass

    class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
        daemon_threads = True
        request_queue_size = 256

    Server(("127.0.0.1", args.port), Handler).serve_forever()


# Recorded series the shipped rules read over a long window or with an offset, as the rule
# records them, from the model: name -> (labels, value) of each series of a host at time t.
class Recorded:
    """Recorded series the rules read over a long window or with an offset, as the rules
    record them, from the model: name -> series of (labels, value at t, None when absent).
    Sums are summed once, as counters, so a day of 15-second samples stays quick."""

    def __init__(self, hosts):
        self.series = {}
        by_vhost, errors, lines = {}, {}, {}
        for host in hosts:
            instance = {"job": "gateway", "instance": host_name(host.h)}
            for labels, c in host.families.get("gateway_http_responses_total", []):
                key = (labels["vhost"], labels["status"].startswith("5"))
                by_vhost.setdefault(key, []).append(c)
            for labels, c in host.families.get("gateway_upstream_errors_total", []):
                errors.setdefault((instance["instance"], labels["vhost"]), []).append(c)
            for labels, c in host.families.get("gateway_log_lines_read_total", []):
                lines[(instance["instance"], labels["log"])] = [c]
            for labels, c in host.families.get("gateway_log_lines_unrecognised_total", []):
                lines[(instance["instance"], labels["log"])].append(c)
        total = {v: Counter.total(by_vhost.get((v, False), []) + by_vhost.get((v, True), []))
                 for v, _ in by_vhost}
        errors5xx = {v: Counter.total(cs) for (v, is5xx), cs in by_vhost.items() if is5xx}
        job = Counter.total(list(total.values()))
        vhost = lambda v: {"job": "gateway", "vhost": v}
        # No policy answers in this fleet: the SLO's requests and errors are all answers and 5xx.
        for all_name, bad_name in (("job_vhost:gateway_http_responses:rate5m", "job_vhost:gateway_http_responses_5xx:rate5m"),
                                   ("job_vhost:gateway_slo_requests:rate5m", "job_vhost:gateway_slo_errors:rate5m")):
            self.add(all_name, [(vhost(v), c.rate) for v, c in total.items()])
            self.add(bad_name, [(vhost(v), sparse(c.rate)) for v, c in errors5xx.items()])
        for name in ("job:gateway_http_responses:rate5m", "job:gateway_slo_requests:rate5m"):
            self.add(name, [({"job": "gateway"}, job.rate)])
        hourly = lambda c: lambda t: c.rate(t, 3600) or None
        self.add("job_vhost:gateway_slo_requests:rate1h_hourly", [(vhost(v), hourly(c)) for v, c in total.items()])
        self.add("job_vhost:gateway_slo_errors:rate1h_hourly", [(vhost(v), hourly(c)) for v, c in errors5xx.items()])
        self.add("job:gateway_slo_requests:rate1h_hourly", [({"job": "gateway"}, hourly(job))])
        self.add("instance_vhost:gateway_upstream_errors:failing5m",
                 [({"job": "gateway", "instance": i, "vhost": v}, failing(Counter.total(cs)))
                  for (i, v), cs in errors.items()])
        self.add("instance_log:gateway_log_lines_unrecognised:ratio_rate15m",
                 [({"job": "gateway", "instance": i, "log": log}, unrecognised(read, bad))
                  for (i, log), (read, bad) in lines.items()])
        self.add("up", [({"job": "gateway", "instance": host_name(h.h)}, lambda t: 1) for h in hosts])

    def add(self, name, series):
        self.series[name] = series


def sparse(rate):
    return lambda t: rate(t) or None


def failing(errors):
    """1 while rising over 5 minutes, 0 for an hour after, else absent."""
    return lambda t: 1 if errors.rising(t - 300, t) else (0 if errors.rising(t - 3900, t) else None)


def unrecognised(read, bad):
    return lambda t: bad.rate(t, 900) / read.rate(t, 900) if read.rate(t, 900) > 0 else None


DURATION = re.compile(r"(\d+)([smhdw])")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": DAY, "w": 7 * DAY}


def seconds(text):
    return sum(int(n) * UNITS[u] for n, u in DURATION.findall(text))


def long_windows(rules):
    """name -> seconds of history the rules read of it (window + offset), for the windows
    longer than 10 minutes and every offset."""
    text = open(rules, encoding="utf-8").read()
    selector = re.compile(r"([a-zA-Z_:][\w:]*)(\{[^}]*\})?(?:\[(\w+)\])?(?:\s+offset\s+(\w+))?")
    want = {}
    for m in selector.finditer(text):
        name, window, offset = m.group(1), m.group(3), m.group(4)
        if not (window or offset) or not (name.startswith("gateway_") or ":" in name or name == "up"):
            continue
        span = seconds(window or "5m") + seconds(offset or "0s")
        if span > 600:
            want[name] = max(want.get(name, 0), span)
    return want


def record_intervals(rules):
    """Recorded name -> seconds between its samples: its group's `interval`, else 15s."""
    out, interval = {}, 15
    for line in open(rules, encoding="utf-8"):
        if re.match(r"\s*- name:", line):
            interval = 15
        elif m := re.match(r"\s+interval:\s*(\w+)", line):
            interval = seconds(m.group(1))
        elif m := re.match(r"\s*- record:\s*(\S+)", line):
            out[m.group(1)] = interval
    return out


def needs(args):
    for name, span in sorted(long_windows(args.rules).items(), key=lambda kv: -kv[1]):
        print(f"{name} {span}")


BLOCK = 7200


def backfill(args):
    """History of what the rules read over long windows (at most --max-samples a series), one
    promtool run per 2-hour block so that no two blocks overlap."""
    import subprocess
    import time
    began = time.time()
    hosts = [Host(h, args.vhosts, args.origin, args.break_at) for h in range(args.hosts)]
    recorded = Recorded(hosts)
    intervals = record_intervals(args.rules)
    steps = {n: intervals.get(n, 15) if n in recorded.series else args.step for n in long_windows(args.rules)}
    # At most --max-samples a series: a 30-day window of hourly samples, 3 days of others.
    want = {n: min(s, args.max_samples * steps[n]) for n, s in long_windows(args.rules).items()}
    end = args.break_at
    first = end - max(want.values())
    first -= first % BLOCK
    scratch = os.path.join(os.path.dirname(os.path.abspath(args.data)), "history.om")
    for block in range(first, end, BLOCK):
        names = [n for n, span in want.items() if end - span < block + BLOCK]
        start = max(block, min(end - want[n] for n in names))
        with open(scratch, "w") as out:
            write_history(out, hosts, recorded, names, start, min(block + BLOCK, end), steps)
        subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", scratch, args.data],
                       check=True, stdout=subprocess.DEVNULL)
    os.remove(scratch)
    for name, span in sorted(want.items(), key=lambda kv: -kv[1]):
        known = name in recorded.series or re.sub(r"_(bucket|count|sum)$", "", name) in doc_families()
        print(f"history: {name} {span / 3600:.1f}h at {steps[name]}s" + ("" if known else " (not modelled: none)"))
    print(f"backfill: {time.time() - began:.0f}s")


def write_history(out, hosts, recorded, names, start, end, steps):
    families = doc_families()
    for name in names:
        step = steps[name]
        times = range(start + -start % step, end, step)
        if name in recorded.series:
            out.write(f"# TYPE {name} gauge\n")
            for labels, value in recorded.series[name]:
                prefix = f"{name}{label_text(labels, None)} "
                out.write("".join(f"{prefix}{number(v)} {t}\n"
                                  for t in times if (v := value(t)) is not None))
            continue
        base = re.sub(r"_(bucket|count|sum)$", "", name)
        if base not in families:
            continue
        out.write(f"# TYPE {base} {families[base][0]}\n" if base == name else "")
        for host in hosts:
            for labels, model in host.families.get(name, []):
                prefix = f"{name}{label_text(labels, host_name(host.h))} "
                out.write("".join(f"{prefix}{number(v)} {t}\n"
                                  for t in times if (v := model.at(t)) is not None))
    out.write("# EOF\n")


def expect(args):
    rows = []
    for name, (h, when, alerts) in SCENARIOS.items():
        if h >= args.hosts:
            continue
        for alert, extra in alerts:
            labels = {"instance": host_name(h)}
            if "vhost" in extra:
                labels["vhost"] = vhost_name(h, extra["vhost"])
            if alert.startswith("GatewayVhost"):
                del labels["instance"]
            rows.append({"scenario": name, "history": when == "history", "alertname": alert, "labels": labels})
    json.dump(rows, sys.stdout, indent=1)


def sd(args):
    json.dump([{"targets": [host_name(h) for h in range(args.hosts)]}], sys.stdout)


def query(base, expr):
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=120) as reply:
        body = json.load(reply)
    if body["status"] != "success":
        sys.exit(f"query {expr}: {body}")
    return body["data"]["result"]


def value(sample):
    return float(sample["value"][1])


def names_used(paths):
    """Metric names (families, `_bucket` folded) the rule file and dashboards read."""
    used = set()
    for path in paths:
        for name in re.findall(r"\b((?:gateway|process)_\w+)", open(path, encoding="utf-8").read()):
            used.add(re.sub(r"_(bucket|count|sum)$", "", name))
    return used


def rule_costs(base, window):
    """Every rule's evaluation time, sampled once a round over `window` seconds, as (seconds per
    15 s round, average seconds per evaluation, group, rule): a group of interval I costs its
    rules' time x 15 / I per round. The 12 costliest."""
    import time
    samples = {}
    for i in range(max(1, window // 15)):
        if i:
            time.sleep(15)
        with urllib.request.urlopen(f"{base}/api/v1/rules", timeout=60) as reply:
            for g in json.load(reply)["data"]["groups"]:
                for r in g["rules"]:
                    # One sample per evaluation: a slow group's rule is read once per evaluation.
                    seen = samples.setdefault((g["name"], r["name"], g.get("interval", 15)), {})
                    seen[r.get("lastEvaluation")] = r.get("evaluationTime", 0)
    costs = []
    for (group, rule, interval), seen in samples.items():
        avg = sum(seen.values()) / len(seen)
        costs.append((avg * 15 / interval, avg, group, rule))
    return sorted(costs, reverse=True)[:12]


def report(args):
    """Rule group cost, missed iterations, head series, alerts against `expect`, and what one
    host costs, from the bench's Prometheus after the run; JSON to --json, a table to stdout."""
    base, window = args.prometheus, f"{args.window}s"
    # First, sample the rules for a window: the group figures below cover the same minutes.
    slowest = rule_costs(base, args.window)
    groups = {}
    for name, expr in (
        ("avg", f"avg_over_time(prometheus_rule_group_last_duration_seconds[{window}])"),
        ("max", f"max_over_time(prometheus_rule_group_last_duration_seconds[{window}])"),
        ("interval", "prometheus_rule_group_interval_seconds"),
        ("rules", "prometheus_rule_group_rules"),
        ("missed", "prometheus_rule_group_iterations_missed_total"),
        ("iterations", "prometheus_rule_group_iterations_total"),
    ):
        for s in query(base, expr):
            group = s["metric"]["rule_group"].split(";")[-1]
            groups.setdefault(group, {})[name] = value(s)
    failures = sum(value(s) for s in query(base, "prometheus_rule_evaluation_failures_total"))
    head = value(query(base, "prometheus_tsdb_head_series")[0])
    cpu = query(base, f'rate(process_cpu_seconds_total{{job="prometheus"}}[{window}])')
    rss = query(base, 'process_resident_memory_bytes{job="prometheus"}')
    scrape = query(base, f'avg(avg_over_time(scrape_duration_seconds{{job="gateway"}}[{window}]))')
    up = query(base, 'count(up{job="gateway"} == 1)')

    with urllib.request.urlopen(f"{base}/api/v1/alerts", timeout=60) as reply:
        alerts = json.load(reply)["data"]["alerts"]
    expected = json.load(open(args.expect))
    seen = {}
    for a in alerts:
        seen.setdefault(a["labels"]["alertname"], []).append(a)
    rows, matched = [], set()
    for e in expected:
        hits = [a for a in seen.get(e["alertname"], [])
                if all(a["labels"].get(k) == v for k, v in e["labels"].items())]
        state = "firing" if any(a["state"] == "firing" for a in hits) else (
            "pending" if hits else "MISSING")
        matched.update(id(a) for a in hits)
        rows.append(dict(e, state=state))
    unexpected = [{"alertname": a["labels"]["alertname"], "state": a["state"],
                   "labels": {k: v for k, v in a["labels"].items() if k in ("instance", "vhost", "upstream", "pool", "target")}}
                  for a in alerts if id(a) not in matched and a["labels"].get("severity") != "none"]

    # What one healthy host costs: its series per family, those the shipped rules and
    # dashboards read, and the label that multiplies each family most.
    healthy = host_name(1)
    series = query(base, f'count by (__name__) ({{__name__!~".+:.+", job="gateway", instance="{healthy}"}})')
    per_family = {}
    for s in series:
        family = re.sub(r"_(bucket|count|sum)$", "", s["metric"]["__name__"])
        per_family[family] = per_family.get(family, 0) + int(value(s))
    used = names_used([args.rules] + args.dashboards)
    multipliers = {}
    for family, count in sorted(per_family.items(), key=lambda kv: -kv[1])[:6]:
        labels = query(base, f'{{__name__=~"{family}(_bucket)?", instance="{healthy}"}}')
        distinct = {}
        for s in labels:
            for k, v in s["metric"].items():
                if k not in ("__name__", "job", "instance"):
                    distinct.setdefault(k, set()).add(v)
        multipliers[family] = {"series": count, "labels": {k: len(v) for k, v in sorted(distinct.items(), key=lambda kv: -len(kv[1]))}}
    recorded = query(base, f'count by (__name__) ({{__name__=~".+:.+", instance="{healthy}"}})')
    result = {
        "hosts": args.hosts, "vhosts": args.vhosts, "head_series": head, "groups": groups,
        "rule_evaluation_failures": failures,
        "prometheus_cpu_cores": value(cpu[0]) if cpu else None,
        "prometheus_rss_bytes": value(rss[0]) if rss else None,
        "scrape_seconds_avg": value(scrape[0]) if scrape else None,
        "targets_up": value(up[0]) if up else 0,
        "expected_alerts": rows, "unexpected_alerts": unexpected,
        "per_host": {"series": sum(per_family.values()),
                     "read_by_rules_and_dashboards": sum(c for f, c in per_family.items() if f in used),
                     "recorded": {s["metric"]["__name__"]: int(value(s)) for s in recorded},
                     "largest_families": multipliers},
        "slowest_rules": [{"seconds_per_round": c, "seconds_avg": t, "group": g, "rule": r}
                          for c, t, g, r in slowest],
        "loadavg": open("/proc/loadavg").read().split()[:3],
    }
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)

    print(f"{args.hosts} hosts x {args.vhosts} vhosts: {head:,.0f} head series, {result['targets_up']:.0f} targets up,"
          f" scrape {result['scrape_seconds_avg'] or 0:.3f}s avg; load {' '.join(result['loadavg'])}")
    if cpu and rss:
        print(f"prometheus: {value(cpu[0]):.2f} cores, RSS {value(rss[0]) / 2**30:.2f} GiB")
    print(f"{'group':34} {'rules':>5} {'interval':>8} {'avg s':>8} {'max s':>8} {'iterations':>10} {'missed':>6}")
    total = 0.0
    for group, g in sorted(groups.items()):
        total += g.get("avg", 0) * 15 / g.get("interval", 15)
        print(f"{group:34} {g.get('rules', 0):5.0f} {g.get('interval', 0):7.0f}s {g.get('avg', 0):8.3f}"
              f" {g.get('max', 0):8.3f} {g.get('iterations', 0):10.0f} {g.get('missed', 0):6.0f}")
    print(f"{'all groups, seconds per 15s round':34} {'':5} {'':8} {total:8.3f}")
    print(f"rule evaluation failures: {failures:.0f}; costliest rules (seconds per 15s round, average"
          f" seconds per evaluation, sampled every 15s over {args.window}s):")
    for c, t, g, r in slowest:
        print(f"  {c:8.3f}  {t:8.3f}  {g.split('.')[-1]:16} {r}")
    print("expected alerts (broken hosts):")
    for r in rows:
        where = ", ".join(f"{k}={v}" for k, v in r["labels"].items())
        print(f"  {r['state']:8} {r['alertname']:36} {where}  [{r['scenario']}]")
    print(f"unexpected alerts (the watchdog, severity none, left out): {len(unexpected)}")
    for u in unexpected[:20]:
        print(f"  {u['state']:8} {u['alertname']:36} {u['labels']}")
    ph = result["per_host"]
    print(f"one healthy host ({healthy}): {ph['series']} series, {ph['read_by_rules_and_dashboards']} in families"
          f" the rules and dashboards read, {sum(ph['recorded'].values())} recorded")
    for family, m in multipliers.items():
        print(f"  {family:48} {m['series']:5}  " + " x ".join(f"{k} {n}" for k, n in m["labels"].items()))


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    for cmd in ("serve", "sd", "expect", "backfill"):
        s = sub.add_parser(cmd)
        s.add_argument("--hosts", type=int, default=400)
        s.add_argument("--vhosts", type=int, default=40)
        s.add_argument("--origin", type=int, default=0, help="Unix time the counters start from")
        s.add_argument("--break-at", type=int, default=0, help="Unix time the live scenarios start")
    sub.choices["serve"].add_argument("--port", type=int, default=9150)
    b = sub.choices["backfill"]
    b.add_argument("--rules", required=True)
    b.add_argument("--data", required=True, help="the TSDB directory Prometheus will serve")
    b.add_argument("--step", type=int, default=60,
                   help="seconds between raw samples (recorded ones: their group's interval)")
    b.add_argument("--max-samples", type=int, default=3 * 86400 // 15,
                   help="history per series at most (3 days of 15-second samples)")
    sub.add_parser("needs").add_argument("rules")
    r = sub.add_parser("report")
    r.add_argument("--prometheus", required=True, help="base URL")
    r.add_argument("--hosts", type=int, default=400)
    r.add_argument("--vhosts", type=int, default=40)
    r.add_argument("--window", type=int, default=300, help="seconds to average over")
    r.add_argument("--rules", required=True)
    r.add_argument("--dashboards", nargs="*", default=[])
    r.add_argument("--expect", required=True)
    r.add_argument("--json", required=True)
    args = p.parse_args()
    if getattr(args, "vhosts", PROBES_PER_HOST) < PROBES_PER_HOST:
        p.error(f"--vhosts must be {PROBES_PER_HOST} or more: each host probes {PROBES_PER_HOST} of its vhosts"
                " and the scenarios break vhosts 0 to 3")
    {"serve": serve, "sd": sd, "expect": expect, "backfill": backfill, "needs": needs,
     "report": report}[args.cmd](args)


if __name__ == "__main__":
    main()
