#!/usr/bin/python3
"""bench/batching/run.py BUILD_DIR: the adaptive batcher (the default) against fixed delays.

Four servers of the same model, differing only in config.json:
  adaptive : no config.json (derived: max_batch_size 8, dynamic batching with no delay set)
  delay 0  : {"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_microseconds": 0}}
  delay 100: {"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_microseconds": 100}}
  mbs 0    : {"max_batch_size": 0}                   (no batching)
Models: add_sub (two FP32 [1,16] inputs, JSON; a run takes a few us) and mlp (FP32 [1,512],
binary; 4 x Gemm 512x512). Closed loop, one load-generator thread, at 1, 4, 16, 64 and 256
connections. At each concurrency the four servers are measured back to back (all stay up; the
idle ones sleep), so a burst of unrelated load lands on all of them alike.

Target: at every concurrency the adaptive default reaches >= 90 % of the req/s of the better
fixed delay (0 or 100 us) measured in the same run.

Client: continuum_loadgen by default (replays the prebuilt request, --client loadgen), or Triton's
perf_analyzer (--client perf_analyzer [--protocol http|grpc]; tools/perf_analyzer.sh installs it):
the same models and concurrencies, its own requests (zeros; add_sub JSON and mlp binary over
REST as above, or gRPC), three windows of THR_SECONDS/3 each.

Environment: CONTINUUM_BENCH_THR_SECONDS (seconds per cell, default 2), CONTINUUM_BENCH_ROUNDS
(rounds per cell, default 1; more: the median round's figures), CONTINUUM_BENCH_CONNECTIONS
(default "1,4,16,64,256"), CONTINUUM_BENCH_MODELS (default "add_sub,mlp"), and the CPU layout
variables of benchlib.py.
"""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import benchlib as B  # noqa: E402

SECONDS = float(os.environ.get("CONTINUUM_BENCH_THR_SECONDS", "2"))
ROUNDS = max(1, int(os.environ.get("CONTINUUM_BENCH_ROUNDS", "1")))
CONNECTIONS = [int(c) for c in os.environ.get("CONTINUUM_BENCH_CONNECTIONS", "1,4,16,64,256").split(",")]
MODELS = os.environ.get("CONTINUUM_BENCH_MODELS", "add_sub,mlp").split(",")
TARGET = 0.9

CONFIGS = [
    ("adaptive", None),
    ("delay 0", {"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_microseconds": 0}}),
    ("delay 100", {"max_batch_size": 8, "dynamic_batching": {"max_queue_delay_microseconds": 100}}),
    ("mbs 0", {"max_batch_size": 0}),
]
FIXED = ("delay 0", "delay 100")


def request(model):
    if model == "add_sub":
        return B.json_request("add_sub", [("INPUT0", [1, 16]), ("INPUT1", [1, 16])])
    if model == "mlp":
        return B.binary_request("mlp", [("x", [1, 512])])
    sys.exit("bench: no request for model %r" % model)


# perf_analyzer's --shape for the servers without batching (max_batch_size 0: the first dimension
# is a free one it must be told); the others declare the batch dimension in their config.
SHAPES = {"add_sub": ["INPUT0:1,16", "INPUT1:1,16"], "mlp": ["x:1,512"]}


def drive(client, build, server, model, req_file, connections):
    """One measurement with the chosen client: {rps, p50_us, ...}."""
    if client == "loadgen":
        return B.loadgen(build, server.port, req_file, connections, SECONDS, warmup=0.5)
    protocol = client.split(":")[1]
    port = server.grpc_port if protocol == "grpc" else server.port
    r = B.perf_analyzer(model, port, connections, max(100, int(SECONDS * 1000 / 3)), protocol,
                        "json" if model == "add_sub" else "binary", server.perf_analyzer_shapes)
    if "error" in r:
        sys.exit("bench: %s at %d connection(s): %s" % (model, connections, r["error"]))
    return r


def measure(client, build, server, model, req_file, connections):
    runs = []
    for _ in range(ROUNDS):
        before = server.stats(model)
        r = drive(client, build, server, model, req_file, connections)
        r["stats"] = B.stats_breakdown(before, server.stats(model)) or {}
        runs.append(r)
    runs.sort(key=lambda r: r["rps"])
    return runs[(len(runs) - 1) // 2]


def cell(r):
    p50 = r["p50_us"]
    lat = "%.2f ms" % (p50 / 1e3) if p50 >= 1000 else "%.0f us" % p50
    return "%8.0f req/s, p50 %8s, batch %4.1f" % (r["rps"], lat, r["stats"].get("avg_batch", 0))


def run_model(client, build, model):
    raw = request(model)
    req_file = B.write_request(raw)
    servers = {}
    try:
        for name, config in CONFIGS:
            grpc_port = B.free_port() if client.endswith("grpc") else -1
            servers[name] = B.ContinuumServer(build, B.make_repository(build, {model: config}), grpc_port=grpc_port)
            servers[name].perf_analyzer_shapes = SHAPES[model] if (config or {}).get("max_batch_size") == 0 else []
            B.check_request(servers[name], raw)
        table = {}
        for c in CONNECTIONS:
            table[c] = {name: measure(client, build, servers[name], model, req_file, c) for name, _ in CONFIGS}
            print("  measured %d connection(s)" % c, flush=True)
    finally:
        for s in servers.values():
            s.stop()
    names = [n for n, _ in CONFIGS]
    print("\n%s: %s" % (model, "JSON [1,16] x 2" if model == "add_sub" else "binary [1,512]"))
    print("| conn. | " + " | ".join(names) + " | adaptive / best fixed delay | adaptive / best of all |")
    print("|---|" + "---|" * (len(names) + 2))
    worst = None
    for c in CONNECTIONS:
        row = table[c]
        best_fixed = max(row[n]["rps"] for n in FIXED)
        best_all = max(row[n]["rps"] for n in names if n != "adaptive")
        ratio = row["adaptive"]["rps"] / best_fixed if best_fixed else 0.0
        ratio_all = row["adaptive"]["rps"] / best_all if best_all else 0.0
        worst = ratio if worst is None else min(worst, ratio)
        print("| %d | %s | %.2f | %.2f |" % (c, " | ".join(cell(row[n]) for n in names), ratio, ratio_all))
    print("queue time per request (us) at %s connection(s):" % ", ".join(str(c) for c in CONNECTIONS))
    for n in names:
        q = [table[c][n]["stats"].get("queue_us_per_request", 0) for c in CONNECTIONS]
        print("  %-9s %s" % (n, " ".join("%8.1f" % x for x in q)))
    # A lone request against a configured delay waits the delay (the timer's lateness is
    # measured and taken off), not twice it.
    if 1 in table:
        print("delay 100, 1 connection: a lone request queued %.1f us (configured 100 us)"
              % table[1]["delay 100"]["stats"].get("queue_us_per_request", 0))
    return worst


def main():
    p = argparse.ArgumentParser(description="the adaptive batcher against fixed delays")
    p.add_argument("build_dir", nargs="?", default=os.path.join(B.ROOT, "build"))
    p.add_argument("--client", choices=("loadgen", "perf_analyzer"), default="loadgen")
    p.add_argument("--protocol", choices=("http", "grpc"), default="http", help="with --client perf_analyzer")
    a = p.parse_args()
    if a.protocol == "grpc" and a.client != "perf_analyzer":
        p.error("--protocol grpc needs --client perf_analyzer")
    if a.client == "perf_analyzer" and not os.access(B.PERF_ANALYZER, os.X_OK):
        sys.exit("bench: %s is not installed (run tools/perf_analyzer.sh)" % B.PERF_ANALYZER)
    client = a.client if a.client == "loadgen" else "perf_analyzer:" + a.protocol
    build = B.Build(a.build_dir)
    print("== batching/run: adaptive batching (no delay configured) vs fixed delays, %d s per cell, %d round(s), "
          "client %s" % (SECONDS, ROUNDS, client.replace(":", " over ")))
    print(B.machine_line())
    worst = {}
    for model in MODELS:
        worst[model] = run_model(client, build, model)
    with open("/proc/loadavg") as f:
        print("load average at the end: %s" % " ".join(f.read().split()[:3]))
    ok = all(w is not None and w >= TARGET for w in worst.values())
    B.result_line("batching/run", "adaptive >= %.0f %% of the best fixed delay at every concurrency" % (TARGET * 100),
                  ok, ", ".join("%s worst %.2f" % (m, w) for m, w in worst.items()))


if __name__ == "__main__":
    main()
