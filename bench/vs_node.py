#!/usr/bin/python3
"""bench/vs_node.py BUILD_DIR: continuum serve vs a Node.js server on onnxruntime-node.

The Node server (bench/node/server.js) serves POST /v2/models/{m}/infer (KServe v2 JSON) the way
a typical user writes it: parse JSON, build ort.Tensor, session.run, JSON.stringify. Both servers
are one process pinned to the same single CPU with one intra-op thread; the load generator runs
on the other CPU and sends the same JSON request at the same concurrency to each.

Cases: add_sub (1x16 FP32 x2) and mlp (1x512 FP32), batch 1, JSON.
Target: >= 2x the Node server's req/s at equal or lower p99.

Continuum runs with the configuration a user gets from a bare model folder (no config.json:
auto-completed, dynamic batching on with the default adaptive delay); a second, info-only row
shows it with dynamic batching off. All servers stay up and are measured back to back, ROUNDS
times; the verdict uses the round with the median req/s ratio.

onnxruntime-node is installed with `npm install --ignore-scripts` into bench/node/ (pinned in
bench/node/package.json). When node or npm is missing, the install fails (offline), or the npm
tarball carries no prebuilt linux-x64 binding, the benchmark prints SKIP and exits 0.
"""
import glob
import os
import platform
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as B  # noqa: E402

SECONDS = float(os.environ.get("CONTINUUM_BENCH_THR_SECONDS", "3"))
ROUNDS = int(os.environ.get("CONTINUUM_BENCH_ROUNDS", "3"))
CONNECTIONS = 8
RPS_TARGET = 2.0
NODE_DIR = os.path.join(B.HERE, "node")
CASES = [("add_sub", [("INPUT0", [1, 16]), ("INPUT1", [1, 16])]), ("mlp", [("x", [1, 512])])]


def skip(why):
    print("SKIP vs_node: %s" % why)
    B.result_line("vs_node", "req/s >= 2x node at <= p99", None, why)
    sys.exit(0)


def ensure_onnxruntime_node():
    if not shutil.which("node") or not shutil.which("npm"):
        skip("node/npm not installed")
    if not os.path.isdir(os.path.join(NODE_DIR, "node_modules", "onnxruntime-node")):
        print("installing onnxruntime-node into bench/node (npm install --ignore-scripts)", flush=True)
        r = subprocess.run(["npm", "install", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=NODE_DIR,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if r.returncode != 0:
            last = r.stdout.strip().splitlines()[-1:] or [""]
            skip("npm install failed (offline?): " + last[0])
    arch = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    bindings = glob.glob(os.path.join(NODE_DIR, "node_modules", "onnxruntime-node", "bin", "napi-v*", "linux", arch,
                                      "onnxruntime_binding.node"))
    if not bindings:
        skip("the onnxruntime-node npm package ships no prebuilt linux-%s binding "
             "(node_modules/onnxruntime-node/bin/napi-v*/linux/%s/ is empty)" % (arch, arch))
    version = subprocess.run(["node", "-p", "require('onnxruntime-node/package.json').version"], cwd=NODE_DIR,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True).stdout.strip()
    node_version = subprocess.run(["node", "--version"], stdout=subprocess.PIPE, text=True).stdout.strip()
    return "node %s, onnxruntime-node %s (%s)" % (node_version, version, os.path.relpath(bindings[0], B.ROOT))


def measure(build, server, model, raw):
    B.check_request(server, raw)
    return B.loadgen(build, server.port, B.write_request(raw), CONNECTIONS, SECONDS, warmup=0.5)


def fmt(name, r):
    return "  %-28s %9.1f req/s  p50 %8.1f us  p99 %8.1f us  p999 %8.1f us" % (
        name, r["rps"], r["p50_us"], r["p99_us"], r["p999_us"])


def main():
    build = B.build_from_argv()
    print("== vs_node: continuum serve vs Node.js + onnxruntime-node, JSON, %d connections" % CONNECTIONS)
    print(B.machine_line())
    print(ensure_onnxruntime_node())
    print("setup: each server pinned to CPU %s with 1 intra-op thread; loadgen on CPU %s; %d rounds of %.0f s, "
          "servers measured back to back, the median round reported" % (B.SERVER_CPUS or "any", B.CLIENT_CPUS or "any", ROUNDS, SECONDS))
    models = [m for m, _ in CASES]
    repo_default = B.make_repository(build, {m: None for m in models})
    repo_nobatch = B.make_repository(build, {m: {"max_batch_size": 8} for m in models})

    # All three servers stay up (idle ones sleep); the load alternates between them.
    rounds = {m: [] for m in models}
    with B.NodeServer(repo_default, models) as node, B.ContinuumServer(build, repo_default) as cont, \
            B.ContinuumServer(build, repo_nobatch) as nob:
        for rnd in range(ROUNDS):
            for model, inputs in CASES:
                raw = B.json_request(model, inputs)
                r = {}
                for name, server in (("node", node), ("continuum", cont), ("continuum-nobatch", nob)):
                    r[name] = measure(build, server, model, raw)
                    print(fmt("%s %s #%d" % (model, name, rnd + 1), r[name]), flush=True)
                rounds[model].append(r)

    print("\nmedian rounds")
    for model, _ in CASES:
        ratios = [r["continuum"]["rps"] / r["node"]["rps"] if r["node"]["rps"] else 0.0 for r in rounds[model]]
        order = sorted(range(len(ratios)), key=lambda i: ratios[i])
        m = order[(len(ratios) - 1) // 2]
        node, cont, nob = rounds[model][m]["node"], rounds[model][m]["continuum"], rounds[model][m]["continuum-nobatch"]
        print("%s: round %d; req/s ratios per round: %s" % (model, m + 1, " ".join("%.2f" % x for x in ratios)))
        print(fmt("%s node" % model, node))
        print(fmt("%s continuum" % model, cont))
        print(fmt("%s continuum, no batching" % model, nob) + "  (info)")
        ratio = ratios[m]
        ok = ratio >= RPS_TARGET and cont["p99_us"] <= node["p99_us"]
        B.result_line("vs_node", "%s req/s >= %.0fx node at <= p99" % (model, RPS_TARGET), ok,
                      "%.2fx (%.0f vs %.0f req/s), p99 %.0f vs %.0f us; without batching %.2fx, p99 %.0f us"
                      % (ratio, cont["rps"], node["rps"], cont["p99_us"], node["p99_us"],
                         nob["rps"] / node["rps"] if node["rps"] else 0.0, nob["p99_us"]))


if __name__ == "__main__":
    main()
