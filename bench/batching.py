#!/usr/bin/python3
"""bench/batching.py BUILD_DIR: dynamic batching on vs off at saturation.

mlp (4 x Gemm 512x512, ~0.07 ms at batch 1), batch-1 requests over the binary tensor extension,
32 keep-alive connections in a closed loop, against two repositories that differ only in
config.json:
  on : {"max_batch_size": 32, "dynamic_batching": {"max_queue_delay_microseconds": DELAY,
        "preferred_batch_size": PREFERRED}}
  off: {"max_batch_size": 32}                      (requests run one by one)
Target: throughput on >= 2x off, with p99 on <= 1.5x p99 off.

Each server runs pinned to the same CPU with one intra-op thread and the load generator on the
other CPU (see benchlib.py). Both servers stay up and the load alternates between them, off then
on, ROUNDS times; the verdict uses the round with the median on/off ratio, so a burst of
unrelated load on the machine does not land on one side only.
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

SECONDS = float(os.environ.get("CONTINUUM_BENCH_THR_SECONDS", "3"))
ROUNDS = int(os.environ.get("CONTINUUM_BENCH_ROUNDS", "3")) * 2 - 1
CONNECTIONS = 32
DELAY_US = 500
PREFERRED = [16, 32]
ON = {"max_batch_size": 32,
      "dynamic_batching": {"max_queue_delay_microseconds": DELAY_US, "preferred_batch_size": PREFERRED}}
OFF = {"max_batch_size": 32}
THROUGHPUT_TARGET = 2.0
P99_LIMIT = 1.5


def measure(build, server, raw):
    before = server.stats("mlp")
    r = B.loadgen(build, server.port, B.write_request(raw), CONNECTIONS, SECONDS, warmup=0.5)
    r["stats"] = B.stats_breakdown(before, server.stats("mlp"))
    return r


def line(name, r):
    s = r["stats"] or {}
    return ("  %-6s %9.1f req/s  p50 %8.1f us  p99 %8.1f us  p999 %8.1f us  avg batch %5.2f  "
            "infer %.1f us/execution, queue %.1f us/request"
            % (name, r["rps"], r["p50_us"], r["p99_us"], r["p999_us"], s.get("avg_batch", 0),
               s.get("compute_infer_us_per_execution", 0), s.get("queue_us_per_request", 0)))


def main():
    build = B.build_from_argv()
    print("== batching: dynamic batching on vs off, mlp batch-1 requests, binary, %d connections" % CONNECTIONS)
    print(B.machine_line())
    print("setup: each server pinned to CPU %s, --intra-op-threads 1, instance_count 1; loadgen on CPU %s; "
          "%d rounds of %.0f s per side, off and on back to back, the median round reported"
          % (B.SERVER_CPUS or "any", B.CLIENT_CPUS or "any", ROUNDS, SECONDS))
    print("  on : %s" % json.dumps(ON))
    print("  off: %s" % json.dumps(OFF))
    raw = B.binary_request("mlp", [("x", [1, 512])])
    # Both servers stay up (the idle one sleeps in epoll); the load alternates between them.
    with B.ContinuumServer(build, B.make_repository(build, {"mlp": OFF})) as off_server, \
            B.ContinuumServer(build, B.make_repository(build, {"mlp": ON})) as on_server:
        B.check_request(off_server, raw)
        B.check_request(on_server, raw)
        rounds = []
        for i in range(ROUNDS):
            off = measure(build, off_server, raw)
            on = measure(build, on_server, raw)
            rounds.append((off, on))
            print(line("off#%d" % (i + 1), off))
            print(line("on#%d" % (i + 1), on), flush=True)
    ratios = [on["rps"] / off["rps"] if off["rps"] else 0.0 for off, on in rounds]
    order = sorted(range(len(ratios)), key=lambda i: ratios[i])
    m = order[(len(ratios) - 1) // 2]
    off, on = rounds[m]
    ratio = ratios[m]
    p99_ratio = on["p99_us"] / off["p99_us"] if off["p99_us"] else float("inf")
    print("\nmedian round (%d); throughput ratios per round: %s" % (m + 1, " ".join("%.2f" % r for r in ratios)))
    print(line("off", off))
    print(line("on", on))
    print("  throughput on/off %.2fx, p99 on/off %.2fx" % (ratio, p99_ratio))
    B.result_line("batching", "throughput >= %.0fx with p99 <= %.1fx unbatched" % (THROUGHPUT_TARGET, P99_LIMIT),
                  ratio >= THROUGHPUT_TARGET and p99_ratio <= P99_LIMIT,
                  "%.2fx req/s (%.0f vs %.0f), p99 %.2fx (%.0f vs %.0f us)"
                  % (ratio, on["rps"], off["rps"], p99_ratio, on["p99_us"], off["p99_us"]))


if __name__ == "__main__":
    main()
