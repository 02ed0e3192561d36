#!/usr/bin/python3
"""bench/gateway/run.py [BUILD_DIR] [--only proxy,ratelimit] [--ratelimit-seconds N]: the gateway benchmark.

Two parts (see bench/gateway/README.md):

proxy      One `continuum serve` node (add_sub, no dynamic batching) and, in front of that same
           node, `continuum gateway` (one-node topology) with three filter configs -- none,
           cache only, auth + ratelimit + cache -- and nginx (Debian package) as a reverse proxy
           with proxy_cache on POST (key "$request_uri|$request_body"). Measured in one run,
           in alternating rounds:
             * latency, 1 connection, sequential: the node directly (the baseline) and each proxy
               on cache misses that reach the node; added p50 / p99 = proxy - direct;
             * cache-hit requests per second at saturation (the same request repeated; the hit
               is checked on the `cache-status` / `X-Cache-Status` header first).
           Targets: gateway added p50 <= nginx's; gateway cache-hit req/s >= nginx's.
ratelimit  3 keys of one tenant (made through the admin API) send 2x their per-key limit for
           60 s, against a gateway with a fixed-window rule and one with a sliding-window rule
           (side by side), starting at a window boundary; each key's 2xx count must be within
           +-5 % of limit x run / window. 3 more keys per gateway start half a window later (info).

CPU layout (2 vCPUs, see bench/README.md): the node, the gateways and nginx are pinned to the
server CPU; the latency client shares that CPU (a cross-vCPU wake-up costs ~35 us on the VM), the
saturation client runs on the other one. Gateway and nginx therefore get the same budget: one
core (nginx: one worker process; the gateway: one HTTP I/O thread plus its upstream thread).

Standard library only, /usr/bin/python3. Every process is stopped on exit, Ctrl-C and SIGTERM.
"""
import argparse
import http.client
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import benchlib as B  # noqa: E402

LAT_SECONDS = float(os.environ.get("CONTINUUM_BENCH_LAT_SECONDS", "3"))
THR_SECONDS = float(os.environ.get("CONTINUUM_BENCH_THR_SECONDS", "2"))
ROUNDS = int(os.environ.get("CONTINUUM_BENCH_ROUNDS", "3"))  # latency rounds
# Short paired throughput rounds: the VM's speed drifts by +-20 % over seconds (same on both sides
# of a pair), so many short back-to-back pairs and their median ratio, as serve_overhead.py does.
THR_ROUNDS = 2 * ROUNDS + 1
SAT_CONNECTIONS = 16  # closed loop: enough to keep one proxy core busy on hits
LAT_CPUS = B.SERVER_CPUS  # sequential runs: the client shares the servers' CPU (see benchlib.py)
RL_TOLERANCE = 0.05

MODEL = "add_sub"
ADD_SUB = [("INPUT0", [1, 16]), ("INPUT1", [1, 16])]
# A miss that reaches the node on both proxies: the gateway computes the key, finds nothing, runs
# the request and does not store it (ttl 0); nginx looks the key up, proxies and does not store
# (proxy_no_cache on this header). So a repeated request stays a miss without a skip-cache path.
NO_STORE = "cf-aig-cache-ttl: 0"
ADMIN_TOKEN = "bench-admin-token"


def log(msg=""):
    print(msg, flush=True)


class Build(B.Build):
    """benchlib.Build without the in-process baseline, which this benchmark does not use."""

    def __init__(self, build_dir):
        self.dir = os.path.abspath(build_dir)
        self.continuum = os.path.join(self.dir, "bin", "continuum")
        self.loadgen = os.path.join(self.dir, "bin", "continuum_loadgen")
        self.models = os.path.join(self.dir, "test_models")
        for f in (self.continuum, self.loadgen, self.model_file(MODEL)):
            if not os.path.exists(f):
                sys.exit("gateway bench: %s is missing; build first: ninja -C %s continuum continuum_loadgen "
                         "test_models" % (f, build_dir))


def with_headers(raw, headers):
    """The prebuilt request `raw` with extra header lines."""
    head, body = raw.split(b"\r\n\r\n", 1)
    return head + b"".join(b"\r\n" + h.encode() for h in headers) + b"\r\n\r\n" + body


def miss_variant(raw):
    """The request with another first input value (same length): a key of its own, so the hit
    request's cache entry never answers it."""
    a, b = b'"data":[-1.5,', b'"data":[-0.5,'
    if raw.count(a) < 1:
        sys.exit("gateway bench: unexpected request body")
    return raw.replace(a, b, 1)


def split_request(raw):
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    return lines[0].split(" ")[1], dict(l.split(": ", 1) for l in lines[1:]), body


def send(server, raw):
    """Sends a prebuilt request once; returns (status, body, {lower-case header: value})."""
    path, headers, body = split_request(raw)
    status, data, r = server.request("POST", path, body, headers)
    return status, data, {k.lower(): v for k, v in r.getheaders()}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- processes ------------------------------------------------------------------------------

class GatewayServer(B._Process):
    """`continuum gateway` over a one-node topology, with an optional filters config."""

    def __init__(self, build, node_port, name, filters=None):
        d = B.tmpdir("continuum-bench-gw-")
        topology = {"schema_version": 1, "origin": "gateway",
                    "nodes": [{"name": "node", "url": "http://127.0.0.1:%d" % node_port, "tier": "edge",
                               "models": [{"name": MODEL, "versions": [1], "compute_ms": 0.05}]}],
                    "links": [{"from": "gateway", "to": "node", "rtt_ms": 0.05, "bandwidth_mbps": 10000}]}
        tpath = os.path.join(d, "topology.json")
        with open(tpath, "w") as f:
            json.dump(topology, f, indent=1)
        argv = [build.continuum, "gateway", "--topology", tpath, "--http-port", "0", "--http-address", "127.0.0.1"]
        self.filters = filters
        if filters is not None:
            fpath = os.path.join(d, "filters.json")
            with open(fpath, "w") as f:
                json.dump(filters, f, indent=1)
            argv += ["--filters", fpath, "--admin-port", "0", "--admin-address", "127.0.0.1"]
        super().__init__(B.pinned(B.SERVER_CPUS, argv), "continuum gateway (%s)" % name, "/v2/health/ready")
        self.name = name
        self.admin_port = None
        if filters is not None and any(f["name"] == "auth" for f in filters["filters"]):
            line = self.proc.stdout.readline()
            if "admin listening on port" not in line:
                self.fail("printed no admin port (%r)" % line)
            self.admin_port = int(line.strip().rsplit(" ", 1)[1])

    def admin(self, method, path, body):
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        c.request(method, path, body=json.dumps(body),
                  headers={"Content-Type": "application/json", "Authorization": "Bearer " + ADMIN_TOKEN})
        r = c.getresponse()
        data = r.read()
        c.close()
        if r.status != 201:
            sys.exit("gateway bench: admin %s %s answered %d: %s" % (method, path, r.status, data[:300]))
        return json.loads(data)

    def new_keys(self, tenant, n):
        self.admin("POST", "/admin/tenants", {"id": tenant})
        return [self.admin("POST", "/admin/tenants/%s/keys" % tenant, {"name": "key%d" % (i + 1)})["key"]
                for i in range(n)]


NGINX_CONF = """\
worker_processes 1;
daemon off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  sendfile on;
  open_file_cache max=1000 inactive=60s;  # a hit then skips open()/fstat() of the cache file
  open_file_cache_valid 60s;
  tcp_nodelay on;
  keepalive_requests 100000000;
  keepalive_timeout 60s;
  client_body_buffer_size 64k;  # $request_body (in the cache key) is only set for in-memory bodies
  client_body_temp_path {d}/client_body;
  proxy_temp_path {d}/proxy_temp;
  fastcgi_temp_path {d}/fastcgi_temp;
  uwsgi_temp_path {d}/uwsgi_temp;
  scgi_temp_path {d}/scgi_temp;
  proxy_cache_path {d}/cache levels=1:2 keys_zone=bench:16m max_size=64m inactive=10m use_temp_path=off;
  map $http_cf_aig_cache_ttl $no_store {{ "0" 1; default 0; }}
  upstream node {{
    server 127.0.0.1:{node_port};
    keepalive 32;
    keepalive_requests 100000000;
  }}
  server {{
    listen 127.0.0.1:{port};
    location = /nginx-health {{ return 200 "ok"; }}
    location / {{
      proxy_pass http://node;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_cache bench;
      proxy_cache_methods POST;
      proxy_cache_key "$request_uri|$request_body";
      proxy_cache_valid 200 5m;
      proxy_no_cache $no_store;
      add_header X-Cache-Status $upstream_cache_status always;
    }}
  }}
}}
"""


def nginx_path():
    return os.environ.get("CONTINUUM_BENCH_NGINX") or "/usr/sbin/nginx"


class NginxServer(B._Process):
    """nginx in the foreground (daemon off, one worker) with its own config in a temp dir."""

    def __init__(self, node_port):
        self.what = "nginx"
        d = B.tmpdir("continuum-bench-nginx-")
        os.chmod(d, 0o755)  # started as root, the worker runs as an unprivileged user and needs the cache dir
        self.port = free_port()
        conf = os.path.join(d, "nginx.conf")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(d=d, port=self.port, node_port=node_port))
        self.log = os.path.join(d, "error.log")
        self._log = open(os.path.join(d, "stderr.log"), "w")
        nginx = nginx_path()
        self.version = subprocess.run([nginx, "-v"], stderr=subprocess.PIPE, text=True).stderr.strip()
        argv = B.pinned(B.SERVER_CPUS, [nginx, "-p", d, "-c", conf, "-e", self.log])
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self._log, stdin=subprocess.DEVNULL)
        B._procs.append(self.proc)
        self.wait_ok("/nginx-health", 30, "did not start")


# --- measurements ---------------------------------------------------------------------------

def fmt_lat(r):
    return "p50 %7.1f us  p90 %7.1f us  p99 %7.1f us  p999 %8.1f us" % (
        r["p50_us"], r["p90_us"], r["p99_us"], r["p999_us"])


def median_index(values):
    order = sorted(range(len(values)), key=lambda i: values[i])
    return order[(len(values) - 1) // 2]


def node_count(node):
    s = node.stats(MODEL)
    return s["inference_stats"]["success"]["count"] if s else 0


def check_miss(proxy, raw, node, header):
    """Two no-store requests: both must be misses the node answered."""
    before = node_count(node)
    for _ in range(2):
        status, data, h = send(proxy, raw)
        if status != 200:
            sys.exit("gateway bench: %s answered %d to the miss request: %s" % (proxy.what, status, data[:300]))
        if h.get(header, "").upper() != "MISS":
            sys.exit("gateway bench: %s: expected %s: MISS on a no-store request, got %r"
                     % (proxy.what, header, h.get(header)))
    if node_count(node) - before != 2:
        sys.exit("gateway bench: %s: the node answered %d of 2 miss requests" % (proxy.what, node_count(node) - before))


def check_hit(proxy, raw, node, header, direct_body):
    """Primes the cache and checks that the next answer is a hit the node never saw."""
    status, data, h = send(proxy, raw)
    if status != 200:
        sys.exit("gateway bench: %s answered %d to the hit request: %s" % (proxy.what, status, data[:300]))
    before = node_count(node)
    status, data, h = send(proxy, raw)
    if status != 200 or h.get(header, "").upper() != "HIT":
        sys.exit("gateway bench: %s: expected %s: HIT on the repeated request, got %d %r"
                 % (proxy.what, header, status, h.get(header)))
    if node_count(node) != before:
        sys.exit("gateway bench: %s: a cache hit reached the node" % proxy.what)
    if json.loads(data)["outputs"] != json.loads(direct_body)["outputs"]:
        sys.exit("gateway bench: %s: the cached answer differs from the node's" % proxy.what)


def latency_run(build, server, req_file, node=None):
    """1 connection, sequential. With `node`: also the requests the node answered meanwhile, and
    the proxy's CPU time and context switches per forwarded request."""
    before = node_count(node) if node else 0
    (cpu0, sw0) = B.tree_usage(server.pid())
    r = B.loadgen(build, server.port, req_file, 1, LAT_SECONDS, warmup=0.5, cpus=LAT_CPUS)
    (cpu1, sw1) = B.tree_usage(server.pid())
    if node is not None:
        n = node_count(node) - before
        r["node_answered"] = n
        r["cpu_us_per_req"] = (cpu1 - cpu0) / n * 1e6 if n else 0.0
        r["switches_per_req"] = (sw1 - sw0) / n if n else 0.0
    return r


def throughput_run(build, server, req_file, node):
    before_node = node_count(node)
    (cpu0, _), t0 = B.tree_usage(server.pid()), time.monotonic()
    r = B.loadgen(build, server.port, req_file, SAT_CONNECTIONS, THR_SECONDS, warmup=0.5)
    (cpu1, _), t1 = B.tree_usage(server.pid()), time.monotonic()
    r["cpu_util"] = (cpu1 - cpu0) / (t1 - t0)
    r["cpu_us_per_req"] = r["cpu_util"] / r["rps"] * 1e6 if r["rps"] else 0.0
    r["node_answered"] = node_count(node) - before_node
    return r


def proxy_part(build):
    log("== gateway vs nginx: added latency and cache-hit throughput in front of one continuum serve node")
    log(B.machine_line())
    if not os.access(nginx_path(), os.X_OK):
        why = "%s is missing: install the Debian package nginx (tools/setup.sh --bench)" % nginx_path()
        log("SKIP: " + why)
        B.result_line("gateway", "added p50 <= nginx's", None, why)
        B.result_line("gateway", "cache-hit req/s >= nginx's", None, why)
        return
    repo = B.make_repository(build, {MODEL: {"max_batch_size": 8}})
    json_raw = B.json_request(MODEL, ADD_SUB)  # the hit request
    miss_raw = with_headers(miss_variant(json_raw), [NO_STORE])

    node = B.ContinuumServer(build, repo)
    nginx = NginxServer(node.port)
    bare = GatewayServer(build, node.port, "no filters")
    cache_cfg = {"schema_version": 1, "filters": [{"name": "cache", "settings": {"ttl_seconds": 3600}}]}
    cache = GatewayServer(build, node.port, "cache", cache_cfg)
    full_cfg = {"schema_version": 1, "filters": [
        {"name": "auth", "settings": {"database": ":memory:", "admin_token": ADMIN_TOKEN}},
        {"name": "ratelimit", "settings": {"window": "sliding", "rules": [
            {"scope": "key", "window_seconds": 60, "requests": 1e9}]}},
        {"name": "cache", "settings": {"ttl_seconds": 3600}}]}
    full = GatewayServer(build, node.port, "auth+ratelimit+cache", full_cfg)
    key = full.new_keys("bench", 1)[0]
    auth = "Authorization: Bearer " + key

    log("setup: node `continuum serve` (add_sub, max_batch_size 8, no dynamic batching, --intra-op-threads 1); "
        "in front of it: %s (1 worker, proxy_cache on POST, keepalive upstream), and continuum gateway (1 HTTP "
        "I/O thread) with filters: none / cache / auth+ratelimit+cache; all pinned to CPU %s. Latency: 1 "
        "connection, client on CPU %s, %d rounds of %g s; hits: %d connections, client on CPU %s, %d rounds of %g s; "
        "each round measures every side back to back, the median round is reported."
        % (nginx.version.replace("nginx version: ", ""), B.SERVER_CPUS or "any", LAT_CPUS or "any", ROUNDS,
           LAT_SECONDS, SAT_CONNECTIONS, B.CLIENT_CPUS or "any", THR_ROUNDS, THR_SECONDS))
    log("request: POST /v2/models/add_sub/infer, JSON, 2 x 1x16 FP32 (%d bytes); misses carry `%s` "
        "(gateway: key computed, not stored; nginx: proxy_no_cache), so every one reaches the node"
        % (len(json_raw), NO_STORE))

    # Checks before measuring: misses reach the node, hits do not, cached answers are the node's.
    status, direct_body, _ = send(node, json_raw)
    if status != 200:
        sys.exit("gateway bench: the node answered %d: %s" % (status, direct_body[:300]))
    proxies = [("nginx", nginx, "x-cache-status", []), ("gw-bare", bare, None, []),
               ("gw-cache", cache, "cache-status", []), ("gw-full", full, "cache-status", [auth])]
    for _, p, header, extra in proxies:
        if header:
            check_miss(p, with_headers(miss_raw, extra), node, header)
            check_hit(p, with_headers(json_raw, extra), node, header, direct_body)
        else:
            status, data, _ = send(p, json_raw)
            if status != 200:
                sys.exit("gateway bench: %s answered %d: %s" % (p.what, status, data[:300]))
    log("checked: misses reach the node (MISS, node count +1 each), repeated requests are hits (HIT, node not "
        "reached, same outputs as the node's)")

    f_direct = B.write_request(miss_raw)
    f_miss = {n: B.write_request(with_headers(miss_raw, extra)) for n, _, _, extra in proxies}
    f_hit = {n: B.write_request(with_headers(json_raw, extra)) for n, _, _, extra in proxies}

    lat_rounds, thr_rounds = [], []
    for rnd in range(ROUNDS):
        order = proxies if rnd % 2 == 0 else proxies[::-1]
        lat = {"direct": latency_run(build, node, f_direct)}
        for n, p, _, _ in order:
            lat[n] = latency_run(build, p, f_miss[n], node)
        lat["direct2"] = latency_run(build, node, f_direct)
        for n, p, _, _ in proxies:
            if lat[n]["node_answered"] < lat[n]["requests"]:
                sys.exit("gateway bench: %s: only %d of %d miss requests reached the node"
                         % (p.what, lat[n]["node_answered"], lat[n]["requests"]))
        lat_rounds.append(lat)
        base = (lat["direct"]["p50_us"] + lat["direct2"]["p50_us"]) / 2
        log("  latency round %d: direct p50 %.1f/%.1f us | added p50: nginx %.1f, gateway no filters %.1f, cache "
            "%.1f, auth+ratelimit+cache %.1f us"
            % (rnd + 1, lat["direct"]["p50_us"], lat["direct2"]["p50_us"], lat["nginx"]["p50_us"] - base,
               lat["gw-bare"]["p50_us"] - base, lat["gw-cache"]["p50_us"] - base, lat["gw-full"]["p50_us"] - base))
    hit_proxies = [x for x in proxies if x[2]]
    for rnd in range(THR_ROUNDS):
        thr = {}
        for n, p, _, _ in (hit_proxies if rnd % 2 == 0 else hit_proxies[::-1]):
            thr[n] = throughput_run(build, p, f_hit[n], node)
        thr_rounds.append(thr)
        log("  hits round %d: nginx %.0f, gateway cache %.0f, auth+ratelimit+cache %.0f req/s -> gateway cache / "
            "nginx %.2f" % (rnd + 1, thr["nginx"]["rps"], thr["gw-cache"]["rps"], thr["gw-full"]["rps"],
                            thr["gw-cache"]["rps"] / thr["nginx"]["rps"] if thr["nginx"]["rps"] else 0))

    for _, p, _, _ in proxies:
        if p.proc.poll() is not None:
            p.fail("exited during the run")

    # Added latency: per round, proxy - direct (the mean of the direct runs before and after).
    def added(lat, n, q):
        return lat[n][q] - (lat["direct"][q] + lat["direct2"][q]) / 2

    diffs = [added(l, "gw-cache", "p50_us") - added(l, "nginx", "p50_us") for l in lat_rounds]
    m = median_index(diffs)
    lat = lat_rounds[m]
    log("\nlatency, 1 connection, sequential, misses that reach the node (median round %d by gateway - nginx)"
        % (m + 1))
    log("  %-32s %s" % ("direct to the node", fmt_lat(lat["direct"])))
    names = {"nginx": "nginx proxy_cache (miss)", "gw-bare": "gateway, no filters",
             "gw-cache": "gateway, cache (miss)", "gw-full": "gateway, auth+ratelimit+cache"}
    for n in ("nginx", "gw-bare", "gw-cache", "gw-full"):
        log("  %-32s %s  added p50 %6.1f us  p99 %6.1f us" % (names[n], fmt_lat(lat[n]), added(lat, n, "p50_us"),
                                                               added(lat, n, "p99_us")))
        log("  %-32s   proxy CPU %.1f us and %.1f context switches per request (node answered %d)"
            % ("", lat[n]["cpu_us_per_req"], lat[n]["switches_per_req"], lat[n]["node_answered"]))

    ratios = [t["gw-cache"]["rps"] / t["nginx"]["rps"] if t["nginx"]["rps"] else 0 for t in thr_rounds]
    mt = median_index(ratios)
    thr = thr_rounds[mt]
    log("\ncache hits at saturation, %d connections (median round %d by gateway / nginx)" % (SAT_CONNECTIONS, mt + 1))
    for n in ("nginx", "gw-cache", "gw-full"):
        t = thr[n]
        log("  %-32s %9.0f req/s  p50 %6.1f us  p99 %7.1f us  proxy CPU %3.0f %% (%.1f us per request)  "
            "node answered %d" % (names[n].replace(" (miss)", ""), t["rps"], t["p50_us"], t["p99_us"],
                                  t["cpu_util"] * 100, t["cpu_us_per_req"], t["node_answered"]))
    full_ratios = [t["gw-full"]["rps"] / t["nginx"]["rps"] if t["nginx"]["rps"] else 0 for t in thr_rounds]
    full_ratio = sorted(full_ratios)[(len(full_ratios) - 1) // 2]
    log("  rounds, gateway cache / nginx: %s" % " ".join("%.2f" % r for r in ratios))
    log("  rounds, gateway auth+ratelimit+cache / nginx: %s (median %.2f)"
        % (" ".join("%.2f" % r for r in full_ratios), full_ratio))

    gw_p50, ng_p50 = added(lat, "gw-cache", "p50_us"), added(lat, "nginx", "p50_us")
    gw_p99, ng_p99 = added(lat, "gw-cache", "p99_us"), added(lat, "nginx", "p99_us")
    full_p50 = added(lat, "gw-full", "p50_us")
    log("\nsummary (median rounds)")
    log("  direct p50 %.1f us; added p50 / p99: gateway (cache) %.1f / %.1f us, nginx %.1f / %.1f us, "
        "gateway (auth+ratelimit+cache) %.1f / %.1f us, gateway (no filters) %.1f / %.1f us"
        % (lat["direct"]["p50_us"], gw_p50, gw_p99, ng_p50, ng_p99, full_p50, added(lat, "gw-full", "p99_us"),
           added(lat, "gw-bare", "p50_us"), added(lat, "gw-bare", "p99_us")))
    log("  cache-hit req/s: gateway (cache) %.0f, nginx %.0f -> %.2fx; gateway (auth+ratelimit+cache) %.2fx nginx"
        % (thr["gw-cache"]["rps"], thr["nginx"]["rps"], ratios[mt], full_ratio))
    B.result_line("gateway", "added p50 <= nginx's", gw_p50 <= ng_p50,
                  "gateway +%.1f us (p99 +%.1f) vs nginx +%.1f us (p99 +%.1f); direct p50 %.1f us; "
                  "auth+ratelimit+cache +%.1f us" % (gw_p50, gw_p99, ng_p50, ng_p99, lat["direct"]["p50_us"], full_p50))
    B.result_line("gateway", "cache-hit req/s >= nginx's", ratios[mt] >= 1.0,
                  "gateway %.0f vs nginx %.0f req/s (%.2fx, median of %d paired rounds %.2f-%.2f); "
                  "auth+ratelimit+cache %.2fx nginx"
                  % (thr["gw-cache"]["rps"], thr["nginx"]["rps"], ratios[mt], len(ratios), min(ratios), max(ratios),
                     full_ratio))
    for p in (full, cache, bare, nginx, node):
        p.stop()


# --- rate limits ----------------------------------------------------------------------------

class KeyClient(threading.Thread):
    """Sends `rate` requests per second, evenly spaced, with one key, from `start` for `seconds`;
    counts answers by status and 2xx by window (windows counted from `boundary`)."""

    def __init__(self, port, raw, rate, start, seconds, boundary, window_s):
        super().__init__(daemon=True)
        self.port, self.rate, self.start_at, self.seconds = port, rate, start, seconds
        self.boundary, self.window_s = boundary, window_s
        self.path, self.headers, self.body = split_request(raw)
        self.status = {}
        self.ok_per_window = {}
        self.late = 0  # requests sent more than 20 ms after their slot (the client fell behind)
        self.errors = 0

    def run(self):
        conn = None
        n = int(round(self.rate * self.seconds))
        for i in range(n):
            slot = self.start_at + (i + 0.5) / self.rate
            wait = slot - time.time()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.02:
                self.late += 1
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
                sent_at = time.time()
                conn.request("POST", self.path, body=self.body, headers=self.headers)
                r = conn.getresponse()
                r.read()
                self.status[r.status] = self.status.get(r.status, 0) + 1
                if 200 <= r.status < 300:
                    w = int((sent_at - self.boundary) // self.window_s)
                    self.ok_per_window[w] = self.ok_per_window.get(w, 0) + 1
                if r.getheader("connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException):
                self.errors += 1
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def counts(self):
        ok = sum(v for s, v in self.status.items() if 200 <= s < 300)
        refused = self.status.get(429, 0)
        return ok, refused, sum(self.status.values()) - ok - refused + self.errors


def ratelimit_part(build, seconds, window_s, limit):
    log("== rate-limit accuracy: 3 keys sending 2x their limit")
    log(B.machine_line())
    if seconds % window_s:
        sys.exit("gateway bench: --ratelimit-seconds (%g) must be a multiple of the window (%g s)" % (seconds, window_s))
    repo = B.make_repository(build, {MODEL: {"max_batch_size": 8}})
    node = B.ContinuumServer(build, repo)
    rate = 2.0 * limit / window_s
    windows = ("fixed", "sliding")
    # Two starts, side by side: at a window boundary (the run covers exactly seconds / window
    # windows: the measurement of the spec), and half a window later (info: a client that starts
    # mid-window, the worst case for a fixed window).
    starts = (("boundary", 0.0), ("mid-window", window_s / 2))
    gateways, keys = {}, {}
    for window in windows:
        cfg = {"schema_version": 1, "filters": [
            {"name": "auth", "settings": {"database": ":memory:", "admin_token": ADMIN_TOKEN}},
            {"name": "ratelimit", "settings": {"window": window, "rules": [
                {"scope": "key", "window_seconds": window_s, "requests": limit}]}}]}
        gateways[window] = GatewayServer(build, node.port, "ratelimit " + window, cfg)
        keys[window] = gateways[window].new_keys("tenant-" + window, 3 * len(starts))
    raw = B.json_request(MODEL, ADD_SUB)
    expected = limit * seconds / window_s
    log("setup: one continuum serve node; two gateways in front of it, filters auth + ratelimit, rule "
        "{scope: key, window_seconds: %g, requests: %g}, one with window fixed, one sliding; on each, a tenant "
        "and its keys made through the admin API (POST /admin/tenants, POST /admin/tenants/{id}/keys). Each key "
        "sends %.1f req/s (2x its limit), evenly spaced, for %g s; expected 2xx per key: %g x %g / %g = %.0f "
        "(+-%.0f %%). Windows are aligned to the epoch: 3 keys per gateway start at a window boundary (the run "
        "covers %d whole windows; the verdict), 3 more start half a window later (info)"
        % (window_s, limit, rate, seconds, limit, seconds, window_s, expected, RL_TOLERANCE * 100,
           seconds // window_s))
    boundary = (math.floor(time.time() / window_s) + 1) * window_s
    if boundary - time.time() < 1.0:
        boundary += window_s
    clients = {}
    slot = 0
    for window in windows:
        for si, (start_name, delay) in enumerate(starts):
            for k in range(3):
                key = keys[window][si * 3 + k]
                req = with_headers(raw, ["Authorization: Bearer " + key])
                # Clients spread over a slot, so they do not all fire at the same instant.
                spread = slot / (4.0 * 3 * len(starts) * rate)
                slot += 1
                clients[(window, start_name, k)] = KeyClient(gateways[window].port, req, rate,
                                                             boundary + delay + spread, seconds, boundary, window_s)
    log("waiting %.1f s for the window boundary, then %g s of traffic" % (boundary - time.time(),
                                                                          seconds + starts[-1][1]))
    for c in clients.values():
        c.start()
    for c in clients.values():
        c.join(seconds + 120)

    log("")
    log("  %-8s %-10s %-4s %6s %6s %6s %6s %6s %8s  %s" % (
        "window", "start", "key", "sent", "2xx", "429", "other", "late", "vs limit",
        "2xx per window of the gateway (from the boundary)"))
    worst, worst_mid, lines, mid = 0.0, {}, [], []
    for window in windows:
        for start_name, delay in starts:
            oks = []
            for k in range(3):
                c = clients[(window, start_name, k)]
                ok, refused, other = c.counts()
                err = (ok - expected) / expected
                oks.append(ok)
                if delay == 0:
                    worst = max(worst, abs(err))
                else:
                    worst_mid[window] = max(worst_mid.get(window, 0.0), err, key=abs)
                n_windows = int(math.ceil((seconds + delay) / window_s))
                per_window = " ".join(str(c.ok_per_window.get(w, 0)) for w in range(n_windows))
                log("  %-8s %-10s %-4d %6d %6d %6d %6d %6d %+7.1f%%  %s" % (
                    window, start_name, k + 1, ok + refused + other, ok, refused, other, c.late, err * 100, per_window))
            (lines if delay == 0 else mid).append("%s %s" % (window, "/".join("%d" % ok for ok in oks)))
    for g in gateways.values():
        if g.proc.poll() is not None:
            g.fail("exited during the run")
    log("  mid-window start (info): %s; a fixed window counts every window the run touches (%d here, up to %.0f "
        "admitted), a sliding window admits a full limit in the first, partial window"
        % ("; ".join("%s %+.1f%%" % (w, worst_mid[w] * 100) for w in windows), int(seconds // window_s) + 1,
           limit * (seconds // window_s + 1)))
    B.result_line("gateway-ratelimit", "3 keys at 2x the limit for %g s get it +-%.0f%%" % (seconds, RL_TOLERANCE * 100),
                  worst <= RL_TOLERANCE,
                  "2xx per key, expected %.0f: %s (worst %.1f%%); started mid-window (info): %s"
                  % (expected, "; ".join(lines), worst * 100, "; ".join(mid)))
    for g in gateways.values():
        g.stop()
    node.stop()


def main():
    ap = argparse.ArgumentParser(description="gateway benchmark: vs nginx proxy_cache, and rate-limit accuracy")
    ap.add_argument("build", nargs="?", default=os.path.join(B.ROOT, "build"))
    ap.add_argument("--only", default="proxy,ratelimit", help="parts to run: proxy, ratelimit (comma-separated)")
    ap.add_argument("--ratelimit-seconds", type=float, default=60.0, help="rate-limit run length (default 60)")
    ap.add_argument("--ratelimit-window", type=float, default=10.0, help="rule window in seconds (default 10)")
    ap.add_argument("--ratelimit-requests", type=float, default=50.0, help="rule limit per window (default 50)")
    a = ap.parse_args()
    parts = [p.strip() for p in a.only.split(",") if p.strip()]
    for p in parts:
        if p not in ("proxy", "ratelimit"):
            ap.error("unknown part %r (known: proxy, ratelimit)" % p)
    build = Build(a.build)
    if "proxy" in parts:
        proxy_part(build)
    if "ratelimit" in parts:
        if "proxy" in parts:
            log("")
        ratelimit_part(build, a.ratelimit_seconds, a.ratelimit_window, a.ratelimit_requests)


if __name__ == "__main__":
    main()
