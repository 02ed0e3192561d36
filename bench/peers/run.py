#!/usr/bin/python3
"""bench/peers/run.py BUILD_DIR: `continuum serve` and its peers side by side, driven by perf_analyzer.

The servers (see README.md): continuum serve (REST and gRPC), KServe's Python model server with a
custom ONNX Runtime predictor (kserve_server.py), Seldon MLServer with a custom ONNX Runtime
runtime (mlserver_runtime.py) and the Node.js server on onnxruntime-node (bench/node/server.js).
All load the same models (add_sub: two FP32 [1,16] inputs; mlp: FP32 [1,512], 4 x Gemm 512x512)
from one repository, each on one core with one intra-op thread (the CPU layout of benchlib.py);
perf_analyzer is not pinned (see benchlib.perf_analyzer). continuum runs with its defaults
(adaptive batching).

perf_analyzer (Triton's, unchanged) sends batch-1 requests of zeros, asynchronously at
concurrency 1, 4, 16 and 64: three windows of CONTINUUM_BENCH_PA_WINDOW_MS each, and its report of
them (the stability check opened wide: the windows are measured, not repeated until they agree).
Each peer is driven in the request format it answers perf_analyzer in: KServe over REST with
binary tensors (its JSON answers carry "parameters": null, which Triton's client cannot read),
MLServer and the Node.js server over REST with JSON tensors (neither speaks binary tensors). Each is
compared with continuum measured in the same format; continuum's gRPC figures are printed beside
(no peer's gRPC service has the ModelConfig method perf_analyzer needs).

Goals: at every concurrency continuum has more throughput and a lower p50 and p99 than every
peer; at 16 its throughput is >= 2x the best peer's.

Environment: CONTINUUM_BENCH_PA_WINDOW_MS (default 1000), CONTINUUM_BENCH_PA_TIMEOUT_S (60), CONTINUUM_BENCH_CONCURRENCY (default
"1,4,16,64"), CONTINUUM_BENCH_MODELS (default "add_sub,mlp"), CONTINUUM_BENCH_PEERS (default
"kserve,mlserver,node"), and the CPU layout variables of benchlib.py. tools/peers.sh installs
the peers and perf_analyzer (`make bench` runs it through tools/setup.sh --bench).
"""
import json
import os
import platform
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import benchlib as B  # noqa: E402

CACHE = B.CACHE
WINDOW_MS = int(os.environ.get("CONTINUUM_BENCH_PA_WINDOW_MS", "1000"))
CONCURRENCY = [int(c) for c in os.environ.get("CONTINUUM_BENCH_CONCURRENCY", "1,4,16,64").split(",")]
MODELS = os.environ.get("CONTINUUM_BENCH_MODELS", "add_sub,mlp").split(",")
PEERS = os.environ.get("CONTINUUM_BENCH_PEERS", "kserve,mlserver,node").split(",")
# The REST tensor format each peer is driven in (see above).
PEER_FORMAT = {"kserve": "binary", "mlserver": "json", "node": "json"}
GOAL_AT = 16
GOAL_RATIO = 2.0


def skip(why):
    print("SKIP peers: %s" % why)
    B.result_line("peers", "faster than every peer; >= 2x the best at %d" % GOAL_AT, None, why)
    sys.exit(0)


# --- the servers ----------------------------------------------------------------------------

def venv(peer):
    path = os.path.join(CACHE, "peers", peer, "bin")
    if not os.path.isdir(path):
        skip("%s is not installed (run tools/peers.sh)" % path)
    return path


def start_kserve(repository):
    http, grpc = B.free_port(), B.free_port()
    argv = B.pinned(B.SERVER_CPUS, [os.path.join(venv("kserve"), "python"), os.path.join(HERE, "kserve_server.py"),
                                    "--model-repository", repository, "--http-port", str(http),
                                    "--grpc-port", str(grpc), *MODELS])
    return B._Process(argv, "kserve", "/v2/health/ready", port=http)


def start_mlserver(repository):
    http = B.free_port()
    root = B.tmpdir("continuum-bench-mlserver-")
    # parallel_workers 0: inference in the server process, like every other server here (and the
    # worker pool of this release does not start on Python 3.11: no event loop in its workers).
    with open(os.path.join(root, "settings.json"), "w") as f:
        json.dump({"http_port": http, "grpc_port": B.free_port(), "metrics_port": B.free_port(),
                   "parallel_workers": 0, "debug": False}, f)
    for m in MODELS:
        os.makedirs(os.path.join(root, m))
        with open(os.path.join(root, m, "model-settings.json"), "w") as f:
            json.dump({"name": m, "implementation": "mlserver_runtime.OnnxRuntime",
                       "parameters": {"uri": os.path.join(repository, m, "1", "model.onnx"),
                                      "extra": {"intra_op_threads": 1}}}, f)
    env = dict(os.environ, PYTHONPATH=HERE)
    argv = B.pinned(B.SERVER_CPUS, [os.path.join(venv("mlserver"), "mlserver"), "start", root])
    server = B._Process(argv, "mlserver", "/v2/health/ready", env=env, port=http, cwd=root)
    for m in MODELS:
        server.wait_ok("/v2/models/%s/ready" % m, 120, "did not load %s" % m)
    return server


def start_node(repository):
    if not os.path.isdir(os.path.join(B.ROOT, "bench", "node", "node_modules", "onnxruntime-node")):
        skip("bench/node/node_modules is missing (run tools/peers.sh)")
    return B.NodeServer(repository, MODELS)


STARTERS = {"kserve": start_kserve, "mlserver": start_mlserver, "node": start_node}


# --- the table ------------------------------------------------------------------------------

def fmt_cell(r):
    if "error" in r:
        return "ERROR | | "
    return "%.0f | %.0f | %.0f" % (r["rps"], r["p50_us"], r["p99_us"])


def compare(ours, peer):
    """(ratio row text, goals met) for continuum ÷ peer at one concurrency."""
    if "error" in ours or "error" in peer:
        return "| | ", False
    thr, p50, p99 = ours["rps"] / peer["rps"], ours["p50_us"] / peer["p50_us"], ours["p99_us"] / peer["p99_us"]
    return "%.2f | %.2f | %.2f" % (thr, p50, p99), thr > 1 and p50 < 1 and p99 < 1


def perf_analyzer(model, port, concurrency, protocol="http", tensor_format="binary"):
    """A cell; run once more when the first run fails (on a loaded machine a window can come out
    empty: perf_analyzer then exits 3, "No valid requests recorded")."""
    r = B.perf_analyzer(model, port, concurrency, WINDOW_MS, protocol, tensor_format)
    if "error" in r:
        print("  %s at %d on port %d: %s; once more" % (model, concurrency, port, r["error"]), flush=True)
        r = B.perf_analyzer(model, port, concurrency, WINDOW_MS, protocol, tensor_format)
    return r


def run_model(model, servers):
    cells = {}
    for c in CONCURRENCY:
        for name, server in servers.items():
            if name == "continuum":
                for fmt in ("binary", "json"):
                    cells[(name + " " + fmt, c)] = perf_analyzer(model, server.port, c, "http", fmt)
                cells[("continuum grpc", c)] = perf_analyzer(model, server.grpc_port, c, "grpc")
            else:
                cells[(name, c)] = perf_analyzer(model, server.port, c, "http", PEER_FORMAT[name])
        print("  %s: measured concurrency %d" % (model, c), flush=True)
    for key, r in cells.items():
        if "error" in r:
            print("  %s at %d: %s" % (key[0], key[1], r["error"]))

    print("\n%s (req/s, p50 and p99 in us; ratios continuum / peer in the peer's format: "
          "req/s > 1, p50 and p99 < 1 meet the goal)" % model)
    print("| conc. | server | format | req/s | p50 | p99 | req/s ratio | p50 ratio | p99 ratio | goal |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    all_ok, ratio_at_goal = True, None
    for c in CONCURRENCY:
        for name in ("continuum binary", "continuum json", "continuum grpc"):
            proto, fmt = ("grpc", "protobuf") if name.endswith("grpc") else ("http", name.split()[1])
            print("| %d | continuum | %s %s | %s | | | | |" % (c, proto, fmt, fmt_cell(cells[(name, c)])))
        best = None
        for peer in PEERS:
            ours = cells[("continuum " + PEER_FORMAT[peer], c)]
            theirs = cells[(peer, c)]
            ratios, ok = compare(ours, theirs)
            all_ok = all_ok and ok
            print("| %d | %s | http %s | %s | %s | %s |" % (c, peer, PEER_FORMAT[peer], fmt_cell(theirs), ratios,
                                                           B.verdict(ok)))
            if c == GOAL_AT and "error" not in ours and "error" not in theirs:
                r = ours["rps"] / theirs["rps"]
                best = r if best is None else min(best, r)
            elif c == GOAL_AT:
                best = 0.0
        if c == GOAL_AT:
            ratio_at_goal = best
    return all_ok, ratio_at_goal


def main():
    build = B.build_from_argv()
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        skip("perf_analyzer ships for Linux x86_64 only")
    if not os.access(B.PERF_ANALYZER, os.X_OK):
        skip("%s is not installed (run tools/peers.sh)" % B.PERF_ANALYZER)
    print("== peers: continuum serve vs %s, driven by perf_analyzer, %d ms windows"
          % (", ".join(PEERS), WINDOW_MS))
    print(B.machine_line())
    print("perf_analyzer is not pinned (on one vCPU it cannot close a window at concurrency 64): it shares CPUs "
          "with the server under test")
    repository = B.make_repository(build, {m: None for m in MODELS})
    servers = {"continuum": B.ContinuumServer(build, repository, grpc_port=B.free_port())}
    for peer in PEERS:
        servers[peer] = STARTERS[peer](repository)
    results = {}
    try:
        for model in MODELS:
            results[model] = run_model(model, servers)
    finally:
        for s in servers.values():
            s.stop()
    with open("/proc/loadavg") as f:
        print("load average at the end: %s" % " ".join(f.read().split()[:3]))
    beats = all(ok for ok, _ in results.values())
    at_goal = [r for _, r in results.values()]
    twice = all(r is not None and r >= GOAL_RATIO for r in at_goal)
    B.result_line("peers", "req/s, p50, p99 better than every peer at every concurrency; >= %.0fx the best at %d"
                  % (GOAL_RATIO, GOAL_AT), beats and twice,
                  ", ".join("%s: %s, %.2fx the best peer at %d" % (m, "beats all" if ok else "not all", r or 0, GOAL_AT)
                            for m, (ok, r) in results.items()))


if __name__ == "__main__":
    main()
