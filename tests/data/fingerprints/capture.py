#!/usr/bin/env python3
"""Capture the error pages that Debian's own nginx, Apache, HAProxy, Caddy and Varnish
generate for 5xx, as raw HTTP responses for the fingerprint table tests.

Run as root from anywhere: python3 tests/data/fingerprints/capture.py
Each server listens on 127.0.0.1 only, in front of fake upstreams that refuse, reset,
hang or answer garbage; everything started here is stopped at the end. A capture is
written as `<vendor>/<form>.http`: two `#` lines (source, expected verdict) then the
response bytes exactly as received (`Date` and similar values are left as they came).
"""
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(behaviour):
    """A fake upstream on a fresh port: 'hang' never answers, 'reset' sends RST after
    reading the request, 'garbage' answers bytes that are not HTTP."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held = []

    def loop():
        while True:
            conn, _ = listener.accept()
            if behaviour == "hang":
                held.append(conn)
                continue
            conn.recv(65536)
            if behaviour == "reset":
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            else:
                conn.sendall(b"this is not http\r\n\r\n")
            conn.close()

    threading.Thread(target=loop, daemon=True).start()
    return listener.getsockname()[1]


def wait_port(port, proc, seconds=10):
    deadline = time.time() + seconds
    while time.time() < deadline:
        if proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def fetch(port, path, method="GET"):
    request = (
        f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        "User-Agent: gateway-exporter-capture\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
        s.sendall(request.encode())
        chunks = []
        while True:
            data = s.recv(65536)
            if not data:
                return b"".join(chunks)
            chunks.append(data)


def save(vendor, form, source, expect, raw):
    head = raw.split(b"\r\n\r\n", 1)[0].lower()
    if b"transfer-encoding: chunked" in head:
        print(raw.decode(errors="replace"))
        return
    os.makedirs(os.path.join(HERE, vendor), exist_ok=True)
    with open(os.path.join(HERE, vendor, form + ".http"), "wb") as f:
        f.write(f"# source: {source}\n# expect: {expect}\n".encode())
        f.write(raw)
    status_line = raw.split(b"\r\n", 1)[0].decode()
    print(f"{vendor}/{form}: {status_line}")


def version(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    return (out.stdout + out.stderr).strip().splitlines()[0]


def start(cmd, port, workdir):
    log = open(os.path.join(workdir, "stderr"), "w")
    proc = subprocess.Popen(cmd, stdout=log, stderr=log, cwd=workdir)
    wait_port(port, proc)
    return proc


def stop(proc):
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def capture_nginx(up, work):
    port = free_port()
    conf = f"""
daemon off; master_process off; pid {work}/nginx.pid; error_log {work}/error.log;
events {{}}
http {{
  access_log off; client_body_temp_path {work}; proxy_temp_path {work};
  fastcgi_temp_path {work}; uwsgi_temp_path {work}; scgi_temp_path {work};
  server {{
    listen 127.0.0.1:{port};
    location /refused {{ proxy_pass http://127.0.0.1:{up['dead']}; }}
    location /hang {{ proxy_pass http://127.0.0.1:{up['hang']}; proxy_read_timeout 1s; }}
    location /fastcgi {{ fastcgi_pass 127.0.0.1:{up['dead']}; include /etc/nginx/fastcgi_params; }}
    location /unavailable {{ return 503; }}
    location /internal {{ return 500; }}
    location /tokens-off {{ server_tokens off; proxy_pass http://127.0.0.1:{up['dead']}; }}
  }}
}}"""
    path = os.path.join(work, "nginx.conf")
    open(path, "w").write(conf)
    proc = start(["nginx", "-c", path, "-p", work], port, work)
    src = f"captured from Debian {version(['nginx', '-v'])} by capture.py"
    try:
        save("nginx", "502-refused", src + " (proxy_pass to a closed port)", "proxy nginx", fetch(port, "/refused"))
        save("nginx", "502-fastcgi-refused", src + " (fastcgi_pass to a closed port)", "proxy nginx", fetch(port, "/fastcgi"))
        save("nginx", "504-read-timeout", src + " (upstream never answers, proxy_read_timeout 1s)", "proxy nginx", fetch(port, "/hang"))
        save("nginx", "503-own", src + " (return 503, the page limit_req also uses)", "proxy nginx", fetch(port, "/unavailable"))
        save("nginx", "500-own", src + " (return 500)", "proxy nginx", fetch(port, "/internal"))
        save("nginx", "502-server-tokens-off", src + " (server_tokens off)", "proxy nginx", fetch(port, "/tokens-off"))
        save("nginx", "502-head", src + " (HEAD: headers only, no page to recognise)", "unknown unknown", fetch(port, "/refused", "HEAD"))
    finally:
        stop(proc)


def capture_apache(up, work):
    port = free_port()
    modules = "mpm_event authz_core alias proxy proxy_http proxy_balancer slotmem_shm lbmethod_byrequests".split()
    conf = [
        f"ServerRoot {work}", f"PidFile {work}/apache.pid", f"DefaultRuntimeDir {work}",
        f"Mutex file:{work} default", "ServerName localhost", f"Listen 127.0.0.1:{port}",
        f"ErrorLog {work}/error.log", "User www-data", "Group www-data", "ProxyTimeout 1",
    ]
    conf += [f"LoadModule {m}_module /usr/lib/apache2/modules/mod_{m}.so" for m in modules]
    conf += [
        f"ProxyPass /refused http://127.0.0.1:{up['dead']}/",
        f"ProxyPass /reset http://127.0.0.1:{up['reset']}/",
        f"ProxyPass /hang http://127.0.0.1:{up['hang']}/",
        "Redirect 500 /internal",
        "Redirect 504 /gateway-timeout",
        f"<Location /signature>\n  ServerSignature On\n  ProxyPass http://127.0.0.1:{up['reset']}/\n</Location>",
    ]
    path = os.path.join(work, "apache2.conf")
    open(path, "w").write("\n".join(conf) + "\n")
    env = dict(os.environ, APACHE_RUN_DIR=work, APACHE_LOCK_DIR=work, APACHE_LOG_DIR=work)
    log = open(os.path.join(work, "stderr"), "w")
    proc = subprocess.Popen(["apache2", "-f", path, "-DFOREGROUND"], stdout=log, stderr=log, env=env)
    wait_port(port, proc)
    src = f"captured from Debian {version(['apache2', '-v'])} by capture.py"
    try:
        save("apache", "503-refused", src + " (ProxyPass to a closed port)", "proxy apache", fetch(port, "/refused"))
        save("apache", "502-reset", src + " (upstream resets after the request)", "proxy apache", fetch(port, "/reset"))
        # Bytes that are not HTTP pass through as an HTTP/0.9 200: no error page to capture.
        save("apache", "502-read-timeout", src + " (upstream never answers, ProxyTimeout 1: 2.4.71 says 502, not 504)", "proxy apache", fetch(port, "/hang"))
        save("apache", "504-own", src + " (Redirect 504: the page Apache sends for any 504)", "proxy apache", fetch(port, "/gateway-timeout"))
        save("apache", "500-own", src + " (Redirect 500: Apache's own 500 page)", "proxy apache", fetch(port, "/internal"))
        save("apache", "502-signature", src + " (ServerSignature On, Debian's default: adds the <address> line)", "proxy apache", fetch(port, "/signature"))
    finally:
        stop(proc)


def capture_haproxy(up, work):
    port = free_port()
    conf = f"""
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 1s
frontend fe
  bind 127.0.0.1:{port}
  http-request deny deny_status 500 if {{ path_beg /internal }}
  use_backend none if {{ path_beg /none }}
  use_backend garbage if {{ path_beg /garbage }}
  use_backend hang if {{ path_beg /hang }}
  use_backend refused if {{ path_beg /refused }}
backend none
backend garbage
  server s1 127.0.0.1:{up['garbage']}
backend hang
  server s1 127.0.0.1:{up['hang']}
backend refused
  server s1 127.0.0.1:{up['dead']}
"""
    path = os.path.join(work, "haproxy.cfg")
    open(path, "w").write(conf)
    proc = start(["haproxy", "-db", "-f", path], port, work)
    src = f"captured from Debian {version(['haproxy', '-v'])} by capture.py"
    try:
        save("haproxy", "503-no-server", src + " (backend without servers)", "load_balancer haproxy", fetch(port, "/none"))
        save("haproxy", "503-refused", src + " (only server refuses)", "load_balancer haproxy", fetch(port, "/refused"))
        save("haproxy", "502-not-http", src + " (server answers bytes that are not HTTP)", "load_balancer haproxy", fetch(port, "/garbage"))
        save("haproxy", "504-timeout", src + " (server never answers, timeout server 1s)", "load_balancer haproxy", fetch(port, "/hang"))
        save("haproxy", "500-own", src + " (deny_status 500: HAProxy's own 500 errorfile)", "load_balancer haproxy", fetch(port, "/internal"))
    finally:
        stop(proc)


def capture_caddy(up, work):
    port = free_port()
    conf = f"""{{
  admin off
  auto_https off
  storage file_system {work}
}}
http://127.0.0.1:{port} {{
  handle /refused {{
    reverse_proxy 127.0.0.1:{up['dead']}
  }}
  handle /garbage {{
    reverse_proxy 127.0.0.1:{up['garbage']}
  }}
  handle /marked-down {{
    reverse_proxy 127.0.0.1:{up['dead']} {{
      fail_duration 30s
      max_fails 1
    }}
  }}
  handle /hang {{
    reverse_proxy 127.0.0.1:{up['hang']} {{
      transport http {{
        response_header_timeout 1s
      }}
    }}
  }}
}}
"""
    path = os.path.join(work, "Caddyfile")
    open(path, "w").write(conf)
    env = dict(os.environ, HOME=work, XDG_DATA_HOME=work, XDG_CONFIG_HOME=work)
    log = open(os.path.join(work, "stderr"), "w")
    proc = subprocess.Popen(["caddy", "run", "--config", path, "--adapter", "caddyfile"], stdout=log, stderr=log, env=env, cwd=work)
    wait_port(port, proc)
    src = f"captured from Debian caddy {version(['caddy', 'version'])} by capture.py"
    try:
        save("caddy", "502-refused", src + " (reverse_proxy to a closed port)", "proxy caddy", fetch(port, "/refused"))
        save("caddy", "502-not-http", src + " (upstream answers bytes that are not HTTP)", "proxy caddy", fetch(port, "/garbage"))
        fetch(port, "/marked-down")  # the failure marks the only upstream down
        save("caddy", "503-no-upstream", src + " (only upstream marked down by a passive health check)", "proxy caddy", fetch(port, "/marked-down"))
        save("caddy", "504-timeout", src + " (upstream never answers, response_header_timeout 1s)", "proxy caddy", fetch(port, "/hang"))
    finally:
        stop(proc)


def capture_varnish(up, work, name, backend, extra=()):
    os.makedirs(work)
    port = free_port()
    cmd = ["varnishd", "-F", "-n", work, "-a", f"127.0.0.1:{port}", "-b", f"127.0.0.1:{backend}",
           "-s", "malloc,16m", "-p", "first_byte_timeout=1", *extra]
    proc = start(cmd, port, work)
    src = f"captured from Debian {version(['varnishd', '-V'])} by capture.py"
    try:
        save("varnish", name, src + f" (backend {'refuses' if backend == up['dead'] else 'never answers, first_byte_timeout 1'})",
             "proxy varnish", fetch(port, "/"))
    finally:
        stop(proc)


def capture_varnish_synth(up, work):
    os.makedirs(work)
    port = free_port()
    vcl = os.path.join(work, "synth.vcl")
    open(vcl, "w").write(
        'vcl 4.1;\nbackend default { .host = "127.0.0.1"; .port = "%d"; }\n'
        "sub vcl_recv { return (synth(503)); }\n" % up["dead"]
    )
    proc = start(["varnishd", "-F", "-n", work, "-a", f"127.0.0.1:{port}", "-f", vcl, "-s", "malloc,16m"], port, work)
    src = f"captured from Debian {version(['varnishd', '-V'])} by capture.py"
    try:
        save("varnish", "503-synth", src + " (VCL return (synth(503)): the built-in vcl_synth page)", "proxy varnish", fetch(port, "/"))
    finally:
        stop(proc)


def main():
    up = {"dead": free_port(), "hang": serve("hang"), "reset": serve("reset"), "garbage": serve("garbage")}
    only = set(sys.argv[1:])
    steps = {
        "nginx": capture_nginx,
        "apache": capture_apache,
        "haproxy": capture_haproxy,
        "caddy": capture_caddy,
        "varnish": lambda up, w: (capture_varnish(up, w + "/a", "503-refused", up["dead"]),
                                  capture_varnish(up, w + "/b", "503-first-byte-timeout", up["hang"]),
                                  capture_varnish_synth(up, w + "/c")),
    }
    for name, step in steps.items():
        if only and name not in only:
            continue
        work = tempfile.mkdtemp(prefix=f"capture-{name}-")
        os.chmod(work, 0o755)
        try:
            step(up, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
