#!/usr/bin/python3
"""bench/tls/run.py [BUILD_DIR] [--only handshakes,proxy]: the TLS benchmark, against nginx.

Two parts (see bench/tls/README.md); every figure is measured in the same run as its baseline:

handshakes  `continuum serve --tls-cert` and nginx (Debian package, its own config: one worker, the
            same certificate and key, TLS 1.2 and 1.3, TLS 1.2 suites ECDHE + AEAD, session cache and
            tickets), both pinned to the server CPU. Driver: Debian's `openssl s_time`, several
            processes in parallel on the client CPU(s), each connecting, handshaking and closing
            in a loop for a fixed time: full handshakes (-new, TLS 1.3 and TLS 1.2) and resumed
            ones (-reuse: TLS 1.2 sessions; TLS 1.3 tickets, which arrive after the handshake, so
            s_time reads one small answer per connection there, -www). Reported: handshakes per
            second as driven, and the server's CPU time per handshake (from /proc): its capacity,
            handshakes per CPU-second, which is what tells the servers apart when the clients
            (one vCPU here) set the pace. Target: continuum's handshakes per CPU-second >= nginx's
            (full TLS 1.3; resumed TLS 1.2).
proxy       One plain `continuum serve` node (add_sub, no dynamic batching); in front of it
            `continuum gateway` with a TLS listener (one-node topology) and nginx as a TLS
            reverse proxy (keep-alive upstream). wrk (https, keep-alive, 1 thread) at 1, 8 and 32
            connections against the node directly over plain HTTP (the baseline) and each proxy.
            Reported: req/s, p50/p99, added p50 = proxy - direct. Target: gateway's added p50 at
            1 connection <= nginx's.

CPU layout as bench/gateway (bench/README.md): servers pinned to the server CPU; the 1-connection
latency client on the same CPU, every other client on the others. Standard library only,
/usr/bin/python3; every process is stopped on exit, Ctrl-C and SIGTERM.
"""
import argparse
import json
import os
import re
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import benchlib as B  # noqa: E402

SECONDS = float(os.environ.get("CONTINUUM_BENCH_THR_SECONDS", "3"))
ROUNDS = int(os.environ.get("CONTINUUM_BENCH_ROUNDS", "3"))
# s_time processes per measurement: enough that the server, not one client, sets the pace.
CLIENTS = int(os.environ.get("CONTINUUM_BENCH_TLS_CLIENTS", "4"))
CONNECTIONS = (1, 8, 32)
MODEL = "add_sub"
ADD_SUB = [("INPUT0", [1, 16]), ("INPUT1", [1, 16])]
# The suites and protocols both servers offer (the policy of src/tls/server_context.h).
NGINX_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


def log(msg=""):
    print(msg, flush=True)


class Build(B.Build):
    def __init__(self, build_dir):
        self.dir = os.path.abspath(build_dir)
        self.continuum = os.path.join(self.dir, "bin", "continuum")
        self.models = os.path.join(self.dir, "test_models")
        self.pki = os.path.join(self.dir, "test_pki")
        for f in (self.continuum, self.model_file(MODEL), os.path.join(self.pki, "server.pem")):
            if not os.path.exists(f):
                sys.exit("tls bench: %s is missing; build first: ninja -C %s continuum test_models test_pki"
                         % (f, build_dir))

    def cert(self, name):
        return os.path.join(self.pki, name)


def client_context(build):
    return ssl.create_default_context(cafile=build.cert("ca.pem"))


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  tcp_nodelay on;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  client_body_buffer_size 64k;
  client_body_temp_path {d}/client_body;
  proxy_temp_path {d}/proxy_temp;
  fastcgi_temp_path {d}/fastcgi_temp;
  uwsgi_temp_path {d}/uwsgi_temp;
  scgi_temp_path {d}/scgi_temp;
  ssl_certificate {cert};
  ssl_certificate_key {key};
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_ciphers {ciphers};
  ssl_prefer_server_ciphers on;
  ssl_session_cache shared:TLS:16m;
  ssl_session_tickets on;
  upstream node {{
    server 127.0.0.1:{node_port};
    keepalive 32;
    keepalive_requests 100000000;
  }}
  server {{
    listen 127.0.0.1:{port} ssl;
    listen 127.0.0.1:{plain_port};
    location = /v2/health/ready {{ return 200 "ok"; }}
    location / {{
      proxy_pass http://node;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }}
  }}
}}
"""


class NginxTls(B._Process):
    """nginx in the foreground (one worker) serving TLS with the test certificate on `port`, and
    plain HTTP on `plain_port`; proxies to `node_port` (an unused port when it only answers
    handshakes)."""

    def __init__(self, build, node_port):
        self.what = "nginx"
        self.ssl_context = client_context(build)
        d = B.tmpdir("continuum-bench-nginx-tls-")
        os.chmod(d, 0o755)  # started as root, the worker runs as an unprivileged user
        self.port, self.plain_port = B.free_port(), B.free_port()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=d, port=self.port, plain_port=self.plain_port, node_port=node_port,
                                      cert=build.cert("server.pem"),
                                      key=build.cert("server.key"), ciphers=NGINX_CIPHERS))
        self.log = os.path.join(d, "error.log")
        self._log = open(os.path.join(d, "stderr.log"), "w")
        nginx = nginx_path()
        self.version = subprocess.run([nginx, "-v"], stderr=subprocess.PIPE, text=True).stderr.strip()
        argv = B.pinned(B.SERVER_CPUS, [nginx, "-p", d, "-c", conf, "-e", self.log])
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self._log, stdin=subprocess.DEVNULL)
        B._procs.append(self.proc)
        self.wait_ok("/v2/health/ready", 30, "did not start")


class Gateway(B._Process):
    """`continuum gateway` over a one-node topology (the node: plain HTTP), with a TLS listener
    when `tls`."""

    def __init__(self, build, node_port, tls):
        d = B.tmpdir("continuum-bench-gw-tls-")
        topology = {"schema_version": 1, "origin": "gateway",
                    "nodes": [{"name": "node", "url": "http://127.0.0.1:%d" % node_port, "tier": "edge",
                               "models": [{"name": MODEL, "versions": [1], "compute_ms": 0.05}]}],
                    "links": [{"from": "gateway", "to": "node", "rtt_ms": 0.05, "bandwidth_mbps": 10000}]}
        path = os.path.join(d, "topology.json")
        with open(path, "w") as f:
            json.dump(topology, f)
        argv = [build.continuum, "gateway", "--topology", path, "--http-port", "0", "--http-address", "127.0.0.1"]
        if tls:
            argv += ["--tls-cert", build.cert("server.pem"), "--tls-key", build.cert("server.key")]
        super().__init__(B.pinned(B.SERVER_CPUS, argv), "continuum gateway (%s)" % ("TLS" if tls else "plain"),
                         "/v2/health/ready", ssl_context=client_context(build) if tls else None)


def nginx_path():
    return os.environ.get("CONTINUUM_BENCH_NGINX") or "/usr/sbin/nginx"


def negotiated(build, port, *args):
    """(protocol, suite) of one verified handshake by `openssl s_client`."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-brief", "-servername",
                        "localhost", "-CAfile", build.cert("ca.pem"), "-verify_return_error", *args],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    out = r.stdout + r.stderr
    proto = re.search(r"Protocol version: (\S+)", out)
    suite = re.search(r"Ciphersuite: (\S+)", out)
    if r.returncode != 0 or not proto or not suite:
        sys.exit("tls bench: handshake with port %d failed:\n%s" % (port, out[-2000:]))
    return proto.group(1), suite.group(1)


# --- handshakes -------------------------------------------------------------------------------

HANDSHAKE_CASES = (
    ("full TLS 1.3", ["-new", "-tls1_3"]),
    ("full TLS 1.2", ["-new", "-tls1_2"]),
    ("resumed TLS 1.2", ["-reuse", "-tls1_2"]),
    ("resumed TLS 1.3 (+1 GET)", ["-reuse", "-tls1_3", "-www", "/v2/health/ready"]),
)


def s_time(server, args):
    """CLIENTS `openssl s_time` processes for SECONDS against `server`; handshakes/s, the share
    of resumed sessions, and the server's CPU microseconds per handshake."""
    argv = B.pinned(B.CLIENT_CPUS, ["openssl", "s_time", "-connect", "127.0.0.1:%d" % server.port,
                                    "-time", "%d" % SECONDS, *args])
    cpu0, _ = B.tree_usage(server.pid())
    t0 = time.monotonic()
    procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for _ in range(CLIENTS)]
    outs = [p.communicate(timeout=SECONDS + 60)[0] for p in procs]
    elapsed = time.monotonic() - t0
    cpu1, _ = B.tree_usage(server.pid())
    total, reused, fresh = 0, 0, 0
    for p, out in zip(procs, outs):
        m = re.search(r"(\d+) connections in [\d.]+s;", out)
        if p.returncode != 0 or not m:
            sys.exit("tls bench: openssl s_time against %s failed (%d):\n%s" % (server.what, p.returncode,
                                                                                out[-1500:]))
        total += int(m.group(1))
        # One character per connection while it runs: 'r' resumed, '*' a new session.
        progress = "".join(re.findall(r"^[r*]+$", out, re.M))
        reused += progress.count("r")
        fresh += progress.count("*")
    # s_time's own count covers its -time window; the processes' start and exit lie outside it.
    rate = total / SECONDS
    return {"rate": rate, "resumed": reused / (reused + fresh) if reused + fresh else 0.0,
            "cpu_us": (cpu1 - cpu0) / total * 1e6 if total else 0.0, "elapsed": elapsed}


def handshake_part(build):
    log("== TLS handshakes: continuum serve vs nginx, same certificate (ECDSA P-256), protocols and suites")
    log(B.machine_line())
    repo = B.make_repository(build, {})
    serve = B.ContinuumServer(build, repo, extra=["--tls-cert", build.cert("server.pem"), "--tls-key",
                                                  build.cert("server.key")], ssl_context=client_context(build))
    nginx = NginxTls(build, B.free_port())
    servers = (("continuum", serve), ("nginx", nginx))
    log("setup: continuum serve (empty repository, 1 HTTP I/O thread) and %s (1 worker, ssl_ciphers %s, "
        "session cache and tickets), both pinned to CPU %s; %d openssl s_time processes on CPU %s, %g s each, "
        "%d rounds (each round measures both back to back; the round with the median per-core ratio, nginx's CPU "
        "per handshake / continuum's, is reported)"
        % (nginx.version.replace("nginx version: ", ""), NGINX_CIPHERS, B.SERVER_CPUS or "any", CLIENTS,
           B.CLIENT_CPUS or "any", SECONDS, ROUNDS))
    for name, s in servers:
        log("  %-10s negotiates %s with a TLS 1.3 client, %s with a TLS 1.2 client"
            % (name, "/".join(negotiated(build, s.port, "-tls1_3")), "/".join(negotiated(build, s.port, "-tls1_2"))))
    results = {}
    for case, args in HANDSHAKE_CASES:
        rounds = []
        for rnd in range(ROUNDS):
            order = servers if rnd % 2 == 0 else servers[::-1]
            rounds.append({name: s_time(s, args) for name, s in order})
        ratios = [r["nginx"]["cpu_us"] / r["continuum"]["cpu_us"] if r["continuum"]["cpu_us"] else 0 for r in rounds]
        m = sorted(range(len(ratios)), key=lambda i: ratios[i])[(len(ratios) - 1) // 2]
        results[case] = (rounds[m], ratios)
        r = rounds[m]
        log("  %-26s continuum %7.0f/s (%5.1f us CPU each, %3.0f %% resumed)  nginx %7.0f/s (%5.1f us CPU each, "
            "%3.0f %% resumed)  -> per core %.2fx (rounds %s)"
            % (case, r["continuum"]["rate"], r["continuum"]["cpu_us"], r["continuum"]["resumed"] * 100,
               r["nginx"]["rate"], r["nginx"]["cpu_us"], r["nginx"]["resumed"] * 100, ratios[m],
               " ".join("%.2f" % x for x in ratios)))
    for name, s in servers:
        if s.proc.poll() is not None:
            s.fail("exited during the run")
    for what, case in (("full", "full TLS 1.3"), ("resumed", "resumed TLS 1.2")):
        r = results[case][0]
        c, n = r["continuum"], r["nginx"]
        B.result_line("tls-handshake", "%s handshakes per server CPU-second >= nginx's" % what,
                      c["cpu_us"] <= n["cpu_us"],
                      "%s: continuum %.0f/s per core (%.1f us CPU each) vs nginx %.0f/s (%.1f us) -> %.2fx; as driven "
                      "(client-bound when equal): %.0f/s vs %.0f/s, resumed %.0f %% vs %.0f %%"
                      % (case, 1e6 / c["cpu_us"], c["cpu_us"], 1e6 / n["cpu_us"], n["cpu_us"], n["cpu_us"] / c["cpu_us"],
                         c["rate"], n["rate"], c["resumed"] * 100, n["resumed"] * 100))
    serve.stop()
    nginx.stop()


# --- proxy over TLS keep-alive ----------------------------------------------------------------

WRK_SCRIPT = """\
wrk.method = "POST"
wrk.body = {body}
wrk.headers["Content-Type"] = "application/json"
"""

UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}


def wrk(url, script, connections):
    cpus = B.SERVER_CPUS if connections == 1 else B.CLIENT_CPUS
    argv = B.pinned(cpus, ["wrk", "-t1", "-c%d" % connections, "-d%gs" % SECONDS, "--latency", "-s", script, url])
    r = subprocess.run(argv, capture_output=True, text=True, timeout=SECONDS + 60)
    out = r.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    lat = dict((q, float(v) * UNITS[u]) for q, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", out, re.M))
    if r.returncode != 0 or not rps or set(lat) != {"50", "99"}:
        sys.exit("tls bench: wrk %s failed (%d):\n%s%s" % (url, r.returncode, out[-1500:], r.stderr[-500:]))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if bad or errors:
        sys.exit("tls bench: wrk %s saw errors: %s %s" % (url, bad and bad.group(0), errors and errors.group(0)))
    return {"rps": float(rps.group(1)), "p50_us": lat["50"], "p99_us": lat["99"]}


def proxy_part(build):
    log("== TLS keep-alive: continuum gateway (TLS listener) vs nginx (TLS reverse proxy), both in front of one "
        "plain continuum serve node")
    log(B.machine_line())
    repo = B.make_repository(build, {MODEL: {"max_batch_size": 8}})
    node = B.ContinuumServer(build, repo)
    nginx = NginxTls(build, node.port)
    gateway = Gateway(build, node.port, tls=True)
    gateway_plain = Gateway(build, node.port, tls=False)
    raw = B.json_request(MODEL, ADD_SUB)
    body = raw.split(b"\r\n\r\n", 1)[1].decode()
    script = os.path.join(B.tmpdir("continuum-bench-wrk-"), "post.lua")
    with open(script, "w") as f:
        f.write(WRK_SCRIPT.format(body=json.dumps(body)))
    path = "/v2/models/%s/infer" % MODEL
    targets = (("direct", "http://127.0.0.1:%d%s" % (node.port, path), node),
               ("nginx", "https://127.0.0.1:%d%s" % (nginx.port, path), nginx),
               ("gateway", "https://127.0.0.1:%d%s" % (gateway.port, path), gateway),
               ("nginx-plain", "http://127.0.0.1:%d%s" % (nginx.plain_port, path), nginx),
               ("gw-plain", "http://127.0.0.1:%d%s" % (gateway_plain.port, path), gateway_plain))
    for name, _, s in targets[:3] + targets[4:]:
        status, data, _ = s.request("POST", path, body, {"Content-Type": "application/json"})
        if status != 200:
            sys.exit("tls bench: %s answered %d: %s" % (name, status, data[:300]))
    log("setup: node `continuum serve` (add_sub, max_batch_size 8, no dynamic batching); %s (1 worker, keepalive "
        "upstream) and continuum gateway (1 HTTP I/O thread), TLS 1.3 with the same certificate, all pinned to CPU "
        "%s; wrk -t1 over keep-alive (1 connection: on CPU %s, more: on CPU %s), %g s per run, %d rounds"
        % (nginx.version.replace("nginx version: ", ""), B.SERVER_CPUS or "any", B.SERVER_CPUS or "any",
           B.CLIENT_CPUS or "any", SECONDS, ROUNDS))
    summary = {}
    log("  %-5s %-11s %10s %9s %9s %10s" % ("conn", "target", "req/s", "p50 us", "p99 us", "added p50"))
    for c in CONNECTIONS:
        rounds = []
        for rnd in range(ROUNDS):
            order = targets if rnd % 2 == 0 else targets[::-1]
            rounds.append({name: wrk(url, script, c) for name, url, _ in order})
        diffs = [(r["gateway"]["p50_us"] - r["direct"]["p50_us"]) - (r["nginx"]["p50_us"] - r["direct"]["p50_us"])
                 for r in rounds]
        m = sorted(range(len(diffs)), key=lambda i: diffs[i])[(len(diffs) - 1) // 2]
        r = rounds[m]
        summary[c] = r
        for name in ("direct", "nginx", "gateway", "nginx-plain", "gw-plain"):
            added = r[name]["p50_us"] - r["direct"]["p50_us"]
            log("  %-5d %-11s %10.0f %9.1f %9.1f %10s" % (c, name, r[name]["rps"], r[name]["p50_us"], r[name]["p99_us"],
                                                       "" if name == "direct" else "%+.1f" % added))
        log("  %-5d TLS: gateway/nginx req/s %.2fx; gateway - nginx added p50 by round: %s (the median round shown); "
            "what TLS adds to p50: gateway %+.1f us, nginx %+.1f us"
            % (c, r["gateway"]["rps"] / r["nginx"]["rps"], " ".join("%+.1f" % d for d in diffs),
               r["gateway"]["p50_us"] - r["gw-plain"]["p50_us"], r["nginx"]["p50_us"] - r["nginx-plain"]["p50_us"]))
    for _, _, s in targets:
        if s.proc.poll() is not None:
            s.fail("exited during the run")
    one = summary[1]
    gw_added = one["gateway"]["p50_us"] - one["direct"]["p50_us"]
    ng_added = one["nginx"]["p50_us"] - one["direct"]["p50_us"]
    B.result_line("tls-proxy", "added p50 over TLS <= nginx's", gw_added <= ng_added,
                  "1 connection: gateway +%.1f us vs nginx +%.1f us (direct p50 %.1f us); req/s gateway/nginx: %s"
                  % (gw_added, ng_added, one["direct"]["p50_us"],
                     ", ".join("%d conn %.2fx" % (c, summary[c]["gateway"]["rps"] / summary[c]["nginx"]["rps"])
                               for c in CONNECTIONS)))
    for p in (gateway, gateway_plain, nginx, node):
        p.stop()


def main():
    ap = argparse.ArgumentParser(description="TLS benchmark: handshakes and keep-alive proxying vs nginx")
    ap.add_argument("build", nargs="?", default=os.path.join(B.ROOT, "build"))
    ap.add_argument("--only", default="handshakes,proxy", help="parts to run: handshakes, proxy (comma-separated)")
    a = ap.parse_args()
    parts = [p.strip() for p in a.only.split(",") if p.strip()]
    for p in parts:
        if p not in ("handshakes", "proxy"):
            ap.error("unknown part %r (known: handshakes, proxy)" % p)
    build = Build(a.build)
    missing = [t for t in (nginx_path(), "/usr/bin/wrk", "/usr/bin/openssl") if not os.access(t, os.X_OK)]
    if missing:
        why = "missing: %s (tools/setup.sh --bench installs them)" % ", ".join(missing)
        log("SKIP: " + why)
        B.result_line("tls", "handshakes and proxying vs nginx", None, why)
        return
    if "handshakes" in parts:
        handshake_part(build)
    if "proxy" in parts:
        if "handshakes" in parts:
            log("")
        proxy_part(build)


if __name__ == "__main__":
    main()
