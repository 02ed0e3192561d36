#!/usr/bin/python3
"""bench/routing/run.py [BUILD_DIR] [--only NAME[,NAME...]]: the routing benchmark.

Real processes over real sockets on this machine (see bench/routing/README.md):
  * a device node: `continuum serve --compute-scale F`, reached over loopback directly;
  * an edge node and a cloud node: `continuum serve`, each behind its own `continuum linkemu`
    relay that plays the scenario's link file (delay, jitter, bandwidth, loss, partition);
  * `continuum gateway --topology ...` in front; the client sends to the gateway.

Every strategy has a stack of its own (its own node processes, relays and gateway), so the
strategies never queue behind each other on a node or share a link's bandwidth:
  router        gateway over device + edge + cloud, placement by policy
  always-device gateway over the device node only
  always-edge   gateway over the edge node (the models it holds) + a cloud node (the rest)
  always-cloud  gateway over the cloud node only
Each scheduled request is sent at the same instant to the four gateways; the oracle takes, per
request, the fastest of the three static answers (a failed answer counts as infinitely slow).
A scenario may add strategies to compare ("compare": gateway variants, VARIANTS below).
The processes (node, relay, gateway) are in procs.py.

Two more experiments: the edge serve process killed (-9) under load, and stragglers
(--inject-straggler-fraction) with hedge=off vs hedge=on.

Standard library only, /usr/bin/python3. Every process is stopped on exit, Ctrl-C and SIGTERM.
"""
import asyncio
import json
import math
import os
import random
import signal
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import benchlib as B  # noqa: E402
from procs import Gateway, Node, Relay, http_get, serve_supports  # noqa: E402

SCENARIO_DIR = os.path.join(HERE, "scenarios")
SCENARIOS = ["steady", "shifting", "slow-device", "recovering"]
STATIC = ["always-device", "always-edge", "always-cloud"]
STRATEGIES = ["router"] + STATIC
# Strategies a scenario may add for comparison ("compare" in its file): gateway flags.
VARIANTS = {"router-noexplore": ["--explore-after-ms", "0"]}

ORACLE_TARGET = 1.10  # router p95 / oracle p95, every scenario
STATIC_TARGET = 1.30  # best static p95 / router p95, on `shifting`
KILL_RECOVERY_TARGET_S = 1.0
HEDGE_P999_TARGET = 0.5  # hedged p99.9 / unhedged p99.9
HEDGE_EXTRA_TARGET = 0.05

CLIENT_TIMEOUT_S = 5.0

# Input tensors of the test models (tools/gen_test_models.py), batch dimension first.
MODEL_INPUTS = {
    "add_sub": [("INPUT0", [16]), ("INPUT1", [16])],
    "mlp": [("x", [512])],
    "mlp_big": [("x", [1024])],
    "cnn": [("x", [3, 112, 112])],
}

LOAD_AT_START = open("/proc/loadavg").read().split()[:3]


def log(msg):
    print(msg, flush=True)


class Build:
    def __init__(self, build_dir):
        self.dir = os.path.abspath(build_dir)
        self.continuum = os.path.join(self.dir, "bin", "continuum")
        self.models = os.path.join(self.dir, "test_models")
        for f in [self.continuum] + [os.path.join(self.models, m, "1", "model.onnx") for m in MODEL_INPUTS]:
            if not os.path.exists(f):
                sys.exit("routing: %s is missing; build first: ninja -C %s continuum test_models" % (f, build_dir))

    def model_file(self, name):
        return os.path.join(self.models, name, "1", "model.onnx")


# --- scenarios ------------------------------------------------------------------------------

def load_json(path):
    with open(path) as f:
        return json.load(f)


def load_scenario(name):
    path = os.path.join(SCENARIO_DIR, name + ".bench.json")
    s = load_json(path)
    if s.get("schema_version") != 1:
        sys.exit("routing: %s: schema_version must be 1" % path)
    for k in ("edge", "cloud"):
        s[k]["link_path"] = os.path.join(SCENARIO_DIR, s[k]["link"])
        s[k]["link_scenario"] = load_json(s[k]["link_path"])
    for m in s["requests"]["mix"]:
        if m["model"] not in MODEL_INPUTS:
            sys.exit("routing: %s: unknown model %r (known: %s)" % (path, m["model"], ", ".join(MODEL_INPUTS)))
    return s


def first_phase_link(link_scenario):
    """rtt (ms) and bandwidth (Mbps, the uplink: requests are what the router sizes) of phase 1."""
    p = link_scenario["phases"][0]
    up, down = p.get("up", {}), p.get("down", {})
    rtt = up.get("delay_ms", 0) + down.get("delay_ms", 0)
    bw = up.get("bandwidth_kbps", 0) / 1000.0
    return max(rtt, 0.1), (bw if bw > 0 else 10000.0)


def phase_at(link_scenario, t):
    acc = 0.0
    for p in link_scenario["phases"]:
        acc += p["duration_s"]
        if t < acc:
            return p["name"]
    return link_scenario["phases"][-1]["name"]


def node_entry(name, tier, port, models, compute_ms, instances=1):
    return {"name": name, "url": "http://127.0.0.1:%d" % port, "tier": tier,
            "models": [{"name": m, "versions": [1], "instances": instances,
                        "compute_ms": round(max(compute_ms.get(m, 1.0), 0.01), 3)} for m in models]}


def topology(nodes, links):
    return {"schema_version": 1, "origin": "gateway", "nodes": nodes,
            "links": [{"from": "gateway", "to": n, "rtt_ms": round(r, 3), "bandwidth_mbps": round(b, 3)}
                      for n, (r, b) in links.items()]}


LOOPBACK_LINK = (0.1, 10000.0)


class Stack:
    """The processes of one strategy."""

    def __init__(self):
        self.nodes, self.relays, self.gateway = {}, {}, None

    def stop(self):
        link_bytes = {}
        if self.gateway:
            self.gateway.proc.stop()
        for name, r in self.relays.items():
            link_bytes[name] = r.stop()
        for n in self.nodes.values():
            n.proc.stop()
        return link_bytes


def start_stacks(build, sc, strategies, compute_ms, straggler=None, tag=""):
    """Starts the node processes of every strategy, then every relay at once (so the link
    scenarios run in step), then the gateways. Returns ({strategy: Stack}, t0 of the links)."""
    F = sc["device"]["compute_scale"]
    E = sc["edge"].get("compute_scale", 1.0)
    C = sc["cloud"].get("compute_scale", 1.0)
    all_models = sorted({m["model"] for m in sc["requests"]["mix"]})
    edge_models = [m for m in all_models if m in sc["edge"]["models"]]
    rest = [m for m in all_models if m not in edge_models]
    stacks = {s: Stack() for s in strategies}
    seed = 1
    for s, st in stacks.items():
        want = {"router": ("device", "edge", "cloud"), "router-noexplore": ("device", "edge", "cloud"),
                "always-device": ("device",),
                "always-edge": ("edge", "cloud") if rest else ("edge",), "always-cloud": ("cloud",),
                "hedge-off": ("device", "edge", "cloud"), "hedge-on": ("device", "edge", "cloud")}[s]
        for n in want:
            models = {"device": all_models, "edge": edge_models,
                      "cloud": rest if s == "always-edge" else all_models}[n]
            scale = {"device": F, "edge": E, "cloud": C}[n]
            st.nodes[n] = Node(build, "%s/%s%s" % (s, n, tag), models, scale, straggler, seed)
            seed += 1
    for st in stacks.values():
        for n in st.nodes.values():
            n.ready()
    for s, st in stacks.items():
        for n in ("edge", "cloud"):
            if n in st.nodes:
                st.relays[n] = Relay(build, st.nodes[n].port, sc[n]["link_path"], "%s/%s" % (s, n))
    t0 = time.monotonic()
    for st in stacks.values():
        for r in st.relays.values():
            r.ready()
    for s, st in stacks.items():
        nodes, links = [], {}
        scale = {"device": F, "edge": E, "cloud": C}
        for n, node in st.nodes.items():
            port = st.relays[n].port if n in st.relays else node.port
            cms = {m: compute_ms[m] * scale[n] for m in node.models}
            nodes.append(node_entry(n, n, port, node.models, cms))
            links[n] = LOOPBACK_LINK if n == "device" else first_phase_link(sc[n]["link_scenario"])
        st.gateway = Gateway(build, topology(nodes, links), s, extra=VARIANTS.get(s, ()))
    for st in stacks.values():
        st.gateway.ready()
    return stacks, t0


def calibrate(build, models):
    """Engine time per model at batch 1 on one intra-op thread (ms): the median of /stats
    compute_infer over a few sequential requests to a node of scale 1; seeds compute_ms."""
    node = Node(build, "calibration", models).ready()
    out = {}
    try:
        import http.client
        for m in models:
            raw = make_request(m, 1, None)
            head, body = raw.split(b"\r\n\r\n", 1)
            lines = head.decode().split("\r\n")
            headers = dict(l.split(": ", 1) for l in lines[1:])
            c = http.client.HTTPConnection("127.0.0.1", node.port, timeout=30)
            for _ in range(20):
                c.request("POST", "/v2/models/%s/infer" % m, body=body, headers=headers)
                r = c.getresponse()
                r.read()
                if r.status != 200:
                    sys.exit("routing: calibration request for %s answered %d" % (m, r.status))
            c.close()
            st, data = http_get(node.port, "/v2/models/%s/stats" % m)
            s = json.loads(data)["model_stats"][0]
            ci = s["inference_stats"]["compute_infer"]
            out[m] = ci["ns"] / max(ci["count"], 1) / 1e6
    finally:
        node.proc.stop()
    return out


# --- requests -------------------------------------------------------------------------------

def make_request(model, batch, policy):
    inputs = [(name, [batch] + shape) for name, shape in MODEL_INPUTS[model]]
    raw = B.binary_request(model, inputs)
    if policy:
        raw = raw.replace(b"\r\n\r\n", ("\r\nX-Continuum-Policy: %s\r\n\r\n" % policy).encode(), 1)
    return raw


class Result:
    __slots__ = ("ms", "status", "tier", "node", "step", "bytes")

    def __init__(self, ms, status, tier="none", node="none", step="none", nbytes=0):
        self.ms, self.status, self.tier, self.node, self.step, self.bytes = ms, status, tier, node, step, nbytes

    @property
    def ok(self):
        return 200 <= self.status < 300


class Pool:
    """Keep-alive HTTP/1.1 connections to one gateway (asyncio)."""

    def __init__(self, port):
        self.port = port
        self.idle = []

    # The node's HTTP server closes a connection that sends no request for --header-timeout-ms
    # (10 s); connections idle for longer than this are dropped rather than reused.
    MAX_IDLE_S = 4.0

    async def prewarm(self, n):
        for _ in range(n):
            r, w = await asyncio.open_connection("127.0.0.1", self.port)
            self.idle.append((r, w, time.monotonic()))

    async def conn(self):
        while self.idle:
            r, w, since = self.idle.pop()
            if time.monotonic() - since < self.MAX_IDLE_S:
                return r, w
            w.close()
        return await asyncio.open_connection("127.0.0.1", self.port)

    async def send(self, conn, raw, t_send=None):
        reader, writer = conn
        t0 = time.perf_counter() if t_send is None else t_send
        try:
            writer.write(raw)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), CLIENT_TIMEOUT_S)
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            h = {}
            for l in lines[1:]:
                if ": " in l:
                    k, v = l.split(": ", 1)
                    h[k.lower()] = v
            n = int(h.get("content-length", "0"))
            body = await asyncio.wait_for(reader.readexactly(n), CLIENT_TIMEOUT_S) if n else b""
            ms = (time.perf_counter() - t0) * 1000.0
            if h.get("connection", "").lower() == "close":
                writer.close()
            else:
                self.idle.append((reader, writer, time.monotonic()))
            return Result(ms, status, h.get("x-continuum-tier", "none"), h.get("x-continuum-node", "none"),
                          h.get("x-continuum-fallback-step", "none"), len(raw) + len(head) + len(body))
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, OSError, ValueError,
                IndexError) as e:
            writer.close()
            return Result((time.perf_counter() - t0) * 1000.0, 0, node=type(e).__name__)


def schedule(sc, duration_s, seed_offset=0):
    """Open-loop Poisson arrivals (seeded): [(t, mix index)]."""
    rq = sc["requests"]
    rng = random.Random(sc.get("seed", 1) + seed_offset)
    weights = [m["weight"] for m in rq["mix"]]
    out, t = [], 0.0
    while True:
        t += rng.expovariate(rq["rate_rps"])
        if t >= duration_s:
            return out
        out.append((t, rng.choices(range(len(weights)), weights)[0]))


async def drive(ports, reqs, arrivals, t_start):
    """Sends each arrival to every gateway at the same instant. reqs[s][k]: raw request of mix
    entry k for strategy s. Returns ({strategy: [Result]} in arrival order, [send time])."""
    pools = {s: Pool(p) for s, p in ports.items()}
    for p in pools.values():
        await p.prewarm(8)
    results = {s: [None] * len(arrivals) for s in ports}
    sent = [None] * len(arrivals)
    tasks = []

    async def one(i, k):
        conns = {s: await pools[s].conn() for s in pools}
        t = time.perf_counter()
        sent[i] = t
        outs = await asyncio.gather(*(pools[s].send(conns[s], reqs[s][k], t) for s in pools))
        for s, r in zip(pools, outs):
            results[s][i] = r

    loop_t0 = time.monotonic()
    offset = t_start - loop_t0
    for i, (t, k) in enumerate(arrivals):
        delay = t - (time.monotonic() - loop_t0) - offset
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(one(i, k)))
    await asyncio.gather(*tasks)
    for p in pools.values():
        for _, w, _ in p.idle:
            w.close()
    return results, sent


# --- statistics -----------------------------------------------------------------------------

def pct(values, q):
    """Nearest-rank percentile; values may hold math.inf (failed requests)."""
    if not values:
        return math.nan
    v = sorted(values)
    return v[min(len(v) - 1, max(0, int(math.ceil(q / 100.0 * len(v))) - 1))]


def fmt_ms(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "     -"
    if math.isinf(v):
        return "  fail"
    return "%6.1f" % v if v < 1000 else "%6.0f" % v


def latencies(results):
    return [r.ms if r.ok else math.inf for r in results]


def summarize(results, targets, link_tiers=("edge", "cloud")):
    lat = latencies(results)
    n = len(results)
    ok = sum(1 for r in results if r.ok)
    within = sum(1 for r, t in zip(results, targets) if r.ok and r.ms <= t)
    tiers = {}
    for r in results:
        if r.ok:
            tiers[r.tier] = tiers.get(r.tier, 0) + 1
    moved = sum(r.bytes for r in results if r.ok and r.tier in link_tiers)
    return {"n": n, "ok": ok, "p50": pct(lat, 50), "p95": pct(lat, 95), "p99": pct(lat, 99),
            "attain": 100.0 * within / n if n else 0.0, "bytes": moved,
            "share": {t: 100.0 * c / n for t, c in tiers.items()}}


def oracle(results, targets):
    out = []
    for i in range(len(targets)):
        best = None
        for s in STATIC:
            r = results[s][i]
            if r.ok and (best is None or r.ms < best.ms):
                best = r
        out.append(best if best else Result(math.inf, 0))
    return out


def fmt_share(share):
    return " ".join("%s %.0f%%" % (t, share.get(t, 0.0)) for t in ("device", "edge", "cloud"))


def print_table(rows):
    log("  %-14s %6s %6s %6s %6s  %7s  %9s  %s" % ("strategy", "p50", "p95", "p99", "failed", "in-tgt",
                                                   "MB moved", "share per tier"))
    for name, s in rows:
        log("  %-14s %s %s %s %6d  %6.1f%%  %9.2f  %s" % (
            name, fmt_ms(s["p50"]), fmt_ms(s["p95"]), fmt_ms(s["p99"]), s["n"] - s["ok"], s["attain"],
            s["bytes"] / 1e6, fmt_share(s["share"])))


# --- experiment 1: scenarios ------------------------------------------------------------------

def run_scenario(build, name, compute_ms):
    sc = load_scenario(name)
    rq = sc["requests"]
    duration = sc["duration_s"]
    strategies = STRATEGIES + sc.get("compare", [])
    log("\n== scenario %s: %s" % (name, sc.get("description", "")))
    log("  device compute x%g; edge x%g holding %s; cloud x%g holding every model; links: edge %s, cloud %s"
        % (sc["device"]["compute_scale"], sc["edge"].get("compute_scale", 1), ",".join(sc["edge"]["models"]),
           sc["cloud"].get("compute_scale", 1), sc["edge"]["link"], sc["cloud"]["link"]))
    log("  requests: %.0f/s Poisson for %.0f s; mix %s" % (
        rq["rate_rps"], duration, "; ".join("%s x%d %.0f%% target %g ms" % (
            m["model"], m.get("batch", 1), 100 * m["weight"], m["latency_target_ms"]) for m in rq["mix"])))
    stacks, t0 = start_stacks(build, sc, strategies, compute_ms)
    reqs = {}
    for s in strategies:
        reqs[s] = [make_request(m["model"], m.get("batch", 1),
                                "latency_target_ms=%g; objective=fastest" % m["latency_target_ms"])
                   for m in rq["mix"]]
    arrivals = schedule(sc, duration)
    # The links' clock started at t0; requests follow the same clock (the start-up of the
    # gateways, a fraction of a second, falls in the first phase).
    t_start = t0 + sc.get("start_offset_s", 0.0)
    ports = {s: stacks[s].gateway.port for s in strategies}
    results, _ = asyncio.run(drive(ports, reqs, arrivals, t_start))
    link_bytes = {}
    decisions = {}
    explored = {}
    for s, st in stacks.items():
        decisions[s] = st.gateway.decisions()
        if s.startswith("router"):
            explored[s] = st.gateway.hedges().get("explore", 0)
        link_bytes[s] = st.stop()
    targets = [rq["mix"][k]["latency_target_ms"] for _, k in arrivals]
    rows = [(s, summarize(results[s], targets)) for s in strategies]
    orc = oracle(results, targets)
    rows.append(("oracle", summarize(orc, targets)))
    log("  %d requests per strategy; latency in ms, end to end at the client" % len(arrivals))
    print_table(rows)
    for s in strategies:
        fails = {}
        for r in results[s]:
            if not r.ok:
                k = "%s on %s" % (r.status or "no answer", r.node)
                fails[k] = fails.get(k, 0) + 1
        if fails:
            log("  (info) %-13s failed answers: %s" % (s, ", ".join("%s x%d" % kv for kv in sorted(fails.items()))))
    for s in strategies:
        lb = link_bytes[s]
        tot = sum(u + d for u, d, _ in lb.values())
        log("  (info) %-13s bytes over the emulated links (linkemu counters, probes/hedges/retries included): "
            "%.2f MB%s" % (s, tot / 1e6, "".join(", %s %.2f MB" % (n, (u + d) / 1e6) for n, (u, d, _) in lb.items())))
    # Per phase of the edge link: p50 per strategy and mix entry, and where the router sent it.
    edge_ls = sc["edge"]["link_scenario"]
    cloud_ls = sc["cloud"]["link_scenario"]
    log("  per phase (edge link | cloud link), per request kind: p50 ms of each strategy; router tier shares")
    phases = []
    for i, (t, k) in enumerate(arrivals):
        key = (phase_at(edge_ls, t), phase_at(cloud_ls, t))
        if key not in phases:
            phases.append(key)
    for key in phases:
        for k, m in enumerate(rq["mix"]):
            idx = [i for i, (t, kk) in enumerate(arrivals)
                   if kk == k and (phase_at(edge_ls, t), phase_at(cloud_ls, t)) == key]
            if not idx:
                continue
            cells = []
            for s in strategies + ["oracle"]:
                rs = orc if s == "oracle" else results[s]
                cells.append("%s %s" % (s.replace("always-", ""), fmt_ms(pct([latencies([rs[i]])[0] for i in idx], 50)).strip()))
            tiers = {}
            for i in idx:
                r = results["router"][i]
                tiers[r.tier if r.ok else "failed"] = tiers.get(r.tier if r.ok else "failed", 0) + 1
            log("    %-28s %-8s n=%-4d %s | router: %s" % (
                "%s | %s" % key, m["model"], len(idx), "  ".join(cells),
                " ".join("%s %d" % kv for kv in sorted(tiers.items()))))
    fallbacks = sum(1 for d in decisions["router"] if d.get("fallback_step", 0) > 0)
    failed_log = sum(1 for d in decisions["router"] if d.get("outcome") != "ok")
    log("  (info) router decision log: %d records, %d served by a fallback, %d failed"
        % (len(decisions["router"]), fallbacks, failed_log))
    log("  (info) exploration copies (to a link whose bandwidth estimate went stale): %s"
        % ", ".join("%s %d" % kv for kv in sorted(explored.items())))
    return {s: r for s, r in rows}


# --- experiment 2: node kill ------------------------------------------------------------------

def run_kill(build, compute_ms):
    sc = load_scenario("kill")
    rq = sc["requests"]
    duration, kill_at = sc["duration_s"], sc["kill_at_s"]
    log("\n== node kill under load: %s" % sc.get("description", ""))
    stacks, t0 = start_stacks(build, sc, ["router"], compute_ms, tag="")
    st = stacks["router"]
    m = rq["mix"][0]
    reqs = {"router": [make_request(m["model"], m.get("batch", 1), "latency_target_ms=%g; objective=fastest"
                                    % m["latency_target_ms"])]}
    arrivals = schedule(sc, duration)
    edge_pid = st.nodes["edge"].proc.proc.pid
    kill_time = {}

    async def killer():
        await asyncio.sleep(max(0.0, t0 + kill_at - time.monotonic()))
        os.kill(edge_pid, signal.SIGKILL)
        kill_time["t"] = time.perf_counter()

    async def main():
        k = asyncio.ensure_future(killer())
        res = await drive({"router": st.gateway.port}, reqs, arrivals, t0)
        await k
        return res

    results, sent = asyncio.run(main())
    st.stop()
    res = results["router"]
    tk = kill_time["t"]
    lost = sum(1 for r in res if not r.ok)
    before = [r for r, ts in zip(res, sent) if ts < tk]
    after = [(r, ts) for r, ts in zip(res, sent) if ts >= tk]
    edge_before = sum(1 for r in before if r.ok and r.tier == "edge")
    # Time until requests are served elsewhere: the first answer from another node to a request
    # sent after the kill, and the first request after which no answer came from the edge or
    # needed a fallback (the edge ejected), both from the kill.
    first_else = None
    for r, ts in after:
        if r.ok and r.tier != "edge":
            first_else = (ts + r.ms / 1000.0) - tk
            break
    # Requests in flight at the kill (sent before, answered after) fall back too.
    inflight = [(r, ts) for r, ts in zip(res, sent) if ts < tk <= ts + r.ms / 1000.0]
    for r, ts in inflight:
        if r.ok and r.tier != "edge":
            done = ts + r.ms / 1000.0 - tk
            first_else = done if first_else is None else min(first_else, done)
    settled = None
    for j in range(len(after)):
        if all(r.ok and r.tier != "edge" and r.step == "0" for r, _ in after[j:]):
            settled = after[j][1] - tk
            break
    fb = sum(1 for r, _ in after if r.ok and r.step not in ("0", "none"))
    slowest_after = max((r.ms for r, _ in after if r.ok), default=0.0)
    log("  %d requests at %.0f/s (%s x%d, target %g ms); edge served %d of the %d sent before the kill at "
        "t=%.1f s" % (len(res), rq["rate_rps"], m["model"], m.get("batch", 1), m["latency_target_ms"],
                      edge_before, len(before), kill_at))
    log("  after the kill: %d requests, %d in flight at the kill, %d served by a fallback, slowest answer %.1f ms"
        % (len(after), len(inflight), fb, slowest_after))
    log("  lost (non-2xx or no answer): %d" % lost)
    log("  first answer from another node: %s after the kill; every later request served elsewhere at step 0 "
        "(edge ejected) from %s after the kill" % (
            "%.0f ms" % (first_else * 1000) if first_else is not None else "never",
            "%.0f ms" % (settled * 1000) if settled is not None else "never"))
    return lost, first_else, settled


# --- experiment 3: stragglers and hedging -------------------------------------------------------

def run_hedge(build, compute_ms):
    sc = load_scenario("stragglers")
    rq = sc["requests"]
    m = rq["mix"][0]
    frac, sms = sc["stragglers"]["fraction"], sc["stragglers"]["ms"]
    log("\n== stragglers + hedging: %s" % sc.get("description", ""))
    if not serve_supports(build, "inject-straggler-fraction"):
        log("  continuum serve has no --inject-straggler-fraction: SKIP")
        return None
    stacks, t0 = start_stacks(build, sc, ["hedge-off", "hedge-on"], compute_ms, straggler=(frac, sms))
    reqs = {}
    for s in stacks:
        reqs[s] = [make_request(m["model"], m.get("batch", 1), "latency_target_ms=%g; objective=fastest; hedge=%s"
                                % (m["latency_target_ms"], "on" if s == "hedge-on" else "off"))]
    counts0 = {s: sum(n.request_count(m["model"]) for n in st.nodes.values()) for s, st in stacks.items()}
    # The first warmup_s of the load is sent like the rest but left out of the latencies: each
    # gateway learns its nodes' answer times (hedge delays) and earns its first hedge tokens.
    # Extra requests are counted over the whole run, warm-up included.
    warmup = sc.get("warmup_s", 0)
    arrivals = schedule(sc, warmup + sc["duration_s"])
    ports = {s: st.gateway.port for s, st in stacks.items()}
    results, _ = asyncio.run(drive(ports, reqs, arrivals, time.monotonic()))
    measured = [i for i, (t, _) in enumerate(arrivals) if t >= warmup]
    results = {s: [r[i] for i in measured] for s, r in results.items()}
    time.sleep(0.5)  # let the losers of hedge races finish on the nodes
    counts1 = {s: sum(n.request_count(m["model"]) for n in st.nodes.values()) for s, st in stacks.items()}
    per_node = {s: {n: node.request_count(m["model"]) for n, node in st.nodes.items()} for s, st in stacks.items()}
    dec = {s: st.gateway.decisions() for s, st in stacks.items()}
    hedges = stacks["hedge-on"].gateway.hedges()
    for st in stacks.values():
        st.stop()
    out = {}
    log("  %d requests per policy at %.0f/s (%s x%d), after %d of warm-up (%g s, not in the latencies); "
        "nodes: %.1f%% of engine runs +%g ms"
        % (len(measured), rq["rate_rps"], m["model"], m.get("batch", 1), len(arrivals) - len(measured), warmup,
           100 * frac, sms))
    log("  %-10s %7s %7s %7s %8s %6s  %s" % ("policy", "p50", "p99", "p99.9", "max", "failed", "extra requests"))
    for s in ("hedge-off", "hedge-on"):
        lat = latencies(results[s])
        sent = counts1[s] - counts0[s]
        extra = sent - len(arrivals)
        hedged_wins = sum(1 for d in dec[s] if d.get("fallback_step") == -1)
        out[s] = (pct(lat, 99.9), extra / len(arrivals))
        log("  %-10s %s  %s  %s  %s %6d  %d (%.2f%%) by the nodes' counts; %d answers won by the hedge; per node %s"
            % (s, fmt_ms(pct(lat, 50)), fmt_ms(pct(lat, 99)), fmt_ms(pct(lat, 99.9)), fmt_ms(max(lat)),
               sum(1 for r in results[s] if not r.ok), extra, 100.0 * extra / len(arrivals), hedged_wins,
               ", ".join("%s %d" % kv for kv in per_node[s].items())))
    if hedges:
        log("  hedge=on gateway's hedges: %s" % ", ".join(
            "%s %d" % (k, hedges.get(k, 0)) for k in ("due", "sent", "won", "no_budget", "no_target")))
    for s in ("hedge-off", "hedge-on"):
        slow = sorted((r for r in results[s] if r.ok), key=lambda r: -r.ms)[:6]
        log("  %-10s slowest: %s" % (s, ", ".join("%.0f ms %s step %s" % (r.ms, r.node, r.step) for r in slow)))
    return out


# --- main ---------------------------------------------------------------------------------------

def main():
    args = sys.argv[1:]
    only = None
    if "--only" in args:
        i = args.index("--only")
        only = set(args[i + 1].split(","))
        del args[i:i + 2]
    build = Build(args[0] if args else os.path.join(B.ROOT, "build"))
    log("== routing: router vs static placements vs the per-request oracle, over emulated links")
    log("machine: %d CPUs; load average at start %s" % (os.cpu_count(), " ".join(LOAD_AT_START)))
    missing = [f for f in ("compute-scale", "inject-straggler-fraction") if not serve_supports(build, f)]
    if missing:
        log("WARNING: continuum serve lacks --%s: the device's slower compute (and stragglers) are not emulated"
            % ", --".join(missing))
    models = sorted(MODEL_INPUTS)
    compute_ms = calibrate(build, models)
    log("calibration (engine time at batch 1, one intra-op thread, scale 1): %s"
        % ", ".join("%s %.3f ms" % kv for kv in sorted(compute_ms.items())))
    t_begin = time.monotonic()
    summaries = {}
    for name in SCENARIOS:
        if only and name not in only:
            continue
        summaries[name] = run_scenario(build, name, compute_ms)
    kill = run_kill(build, compute_ms) if not only or "kill" in only else None
    hedge = run_hedge(build, compute_ms) if not only or "stragglers" in only else None
    log("\n(routing took %.0f s; load average now %s)" % (time.monotonic() - t_begin,
                                                          " ".join(open("/proc/loadavg").read().split()[:3])))
    log("\nsummary")
    for name, rows in summaries.items():
        r, o = rows["router"]["p95"], rows["oracle"]["p95"]
        ratio = r / o if o and not math.isinf(o) else math.inf
        B.result_line("routing", "%s: router p95 / oracle p95 <= %.2f" % (name, ORACLE_TARGET),
                      ratio <= ORACLE_TARGET,
                      "%.2f (router %s ms, oracle %s ms)" % (ratio, fmt_ms(r).strip(), fmt_ms(o).strip()))
    if "shifting" in summaries:
        rows = summaries["shifting"]
        best = min(STATIC, key=lambda s: rows[s]["p95"])
        r = rows["router"]["p95"]
        ratio = rows[best]["p95"] / r if r else math.nan
        B.result_line("routing", "shifting: best static p95 / router p95 >= %.1f" % STATIC_TARGET,
                      ratio >= STATIC_TARGET,
                      "%s (best static %s %s ms; router %s ms; %s)" % (
                          "inf" if math.isinf(ratio) else "%.2f" % ratio, best, fmt_ms(rows[best]["p95"]).strip(),
                          fmt_ms(r).strip(),
                          ", ".join("%s %s" % (s, fmt_ms(rows[s]["p95"]).strip()) for s in STATIC)))
    if kill:
        lost, first_else, settled = kill
        B.result_line("routing", "node kill: 0 requests lost", lost == 0, "%d lost" % lost)
        B.result_line("routing", "node kill: served elsewhere within %.0f s" % KILL_RECOVERY_TARGET_S,
                      first_else is not None and first_else <= KILL_RECOVERY_TARGET_S,
                      "first answer elsewhere after %s; edge out of the first choice after %s" % (
                          "%.0f ms" % (first_else * 1000) if first_else is not None else "never",
                          "%.0f ms" % (settled * 1000) if settled is not None else "never"))
    if hedge:
        off, on = hedge["hedge-off"], hedge["hedge-on"]
        ratio = on[0] / off[0] if off[0] else math.nan
        B.result_line("routing", "hedging: p99.9 on / off <= %.1f" % HEDGE_P999_TARGET, ratio <= HEDGE_P999_TARGET,
                      "%.2f (%s ms vs %s ms)" % (ratio, fmt_ms(on[0]).strip(), fmt_ms(off[0]).strip()))
        B.result_line("routing", "hedging: extra requests <= %.0f%%" % (HEDGE_EXTRA_TARGET * 100),
                      on[1] <= HEDGE_EXTRA_TARGET, "%.2f%% (hedge=off: %.2f%%)" % (on[1] * 100, off[1] * 100))
    elif not only or "stragglers" in only:
        B.result_line("routing", "hedging: p99.9 on / off <= %.1f" % HEDGE_P999_TARGET, None,
                      "continuum serve lacks --inject-straggler-fraction")


if __name__ == "__main__":
    main()
