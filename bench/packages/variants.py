#!/usr/bin/python3
"""Speed and accuracy of a package's variants, through Continuum's own runtime.

Makes the fp32, int8 (ONNX Runtime's quantize_dynamic) and fp16 variants of a generated MLP with
tools/quantize.sh, packs them (`continuum pack` loads each with our ONNX Runtime) and asks
`continuum inspect` which one this machine would install, then measures each variant:
  speed     p50 (and p90) latency of one inference at batch 1, one intra-op thread, through
            continuum_inproc_bench (runtime::Engine / Session::Run, no HTTP)
  accuracy  max abs error and top-1 agreement (argmax per row) against fp32, on fixed inputs
            (a fixed-seed batch of ROWS rows) answered by `continuum serve` over HTTP
and prints each with its ratio to fp32.

Usage: /usr/bin/python3 bench/packages/variants.py [BUILD_DIR] [--model mlp|mlp_big] [--duration S]
Needs BUILD_DIR/bin/continuum, continuum_inproc_bench and test_models (ninja continuum
continuum_inproc_bench test_models), and PyPI for the first tools/quantize.sh run.
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))
import benchlib  # noqa: E402

ROOT = benchlib.ROOT
QUANTIZE = os.path.join(ROOT, "tools", "quantize.sh")
ROWS = 64
REF = "bench.local/models/variants:1"
VARIANTS = {"variants": [
    {"name": "fp16", "precision": "fp16", "requires": {"execution_providers": ["cuda"]}},
    {"name": "int8", "precision": "int8", "requires": {"cpu_features": ["avx512_vnni"]}},
    {"name": "fp32", "precision": "fp32"},
]}


def check(r, what):
    if r.returncode != 0:
        sys.exit("bench: %s failed (%d):\n%s%s" % (what, r.returncode, r.stdout, r.stderr))
    return r


def make_variants(build_dir, model, work):
    folder = os.path.join(work, model)
    fp32 = os.path.join(folder, "variants", "fp32", "1", "model.onnx")
    os.makedirs(os.path.dirname(fp32))
    shutil.copy(os.path.join(build_dir, "test_models", model, "1", "model.onnx"), fp32)
    for kind in ("int8", "fp16"):
        out = os.path.join(folder, "variants", kind, "1", "model.onnx")
        check(subprocess.run([QUANTIZE, kind, fp32, out], capture_output=True, text=True), "quantize " + kind)
    with open(os.path.join(folder, "variants.json"), "w") as f:
        json.dump(VARIANTS, f)
    return folder


def inputs(width):
    rng = random.Random(7)
    return [[rng.gauss(0.0, 1.0) for _ in range(width)] for _ in range(ROWS)]


def infer(server, name, rows, batch=8):
    """The model's outputs for `rows`, sent `batch` rows a request (the default max_batch_size is 8)."""
    out = []
    for i in range(0, len(rows), batch):
        out += infer_batch(server, name, rows[i:i + batch])
    return out


def infer_batch(server, name, rows):
    body = json.dumps({"inputs": [{"name": "x", "shape": [len(rows), len(rows[0])], "datatype": "FP32",
                                   "data": [v for r in rows for v in r]}]})
    status, data, _ = server.request("POST", "/v2/models/%s/infer" % name, body.encode(),
                                     {"Content-Type": "application/json"})
    if status != 200:
        sys.exit("bench: infer %s: HTTP %d %s" % (name, status, data[:300]))
    out = json.loads(data)["outputs"][0]
    width = out["shape"][1]
    flat = out["data"]
    return [flat[i * width:(i + 1) * width] for i in range(out["shape"][0])]


def accuracy(build, folder, width):
    repo = benchlib.tmpdir("continuum-bench-variants-repo-")
    for v in ("fp32", "int8", "fp16"):
        os.makedirs(os.path.join(repo, "mlp_" + v, "1"))
        os.symlink(os.path.join(folder, "variants", v, "1", "model.onnx"),
                   os.path.join(repo, "mlp_" + v, "1", "model.onnx"))
    rows = inputs(width)
    with benchlib.ContinuumServer(build, repo) as server:
        out = {v: infer(server, "mlp_" + v, rows) for v in ("fp32", "int8", "fp16")}
    result = {}
    for v in ("fp32", "int8", "fp16"):
        err = max(abs(a - b) for ra, rb in zip(out[v], out["fp32"]) for a, b in zip(ra, rb))
        top1 = sum(ra.index(max(ra)) == rb.index(max(rb)) for ra, rb in zip(out[v], out["fp32"])) / len(rows)
        scale = max(abs(b) for rb in out["fp32"] for b in rb)
        result[v] = {"max_abs_err": err, "top1": top1, "fp32_max_abs": scale}
    return result


class Paths:
    """benchlib.ContinuumServer needs .continuum; the rest is ours."""

    def __init__(self, build_dir):
        self.dir = os.path.abspath(build_dir)
        self.continuum = os.path.join(self.dir, "bin", "continuum")
        self.inproc = os.path.join(self.dir, "bin", "continuum_inproc_bench")
        for f in (self.continuum, self.inproc, os.path.join(self.dir, "test_models", "mlp")):
            if not os.path.exists(f):
                sys.exit("bench: %s is missing; build first: ninja -C %s continuum continuum_inproc_bench "
                         "test_models" % (f, build_dir))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("build", nargs="?", default=os.path.join(ROOT, "build"))
    ap.add_argument("--model", default="mlp_big", choices=["mlp", "mlp_big"])
    ap.add_argument("--duration", type=float, default=3.0)
    a = ap.parse_args()
    build = Paths(a.build)
    width = {"mlp": 512, "mlp_big": 1024}[a.model]
    work = benchlib.tmpdir("continuum-bench-variants-")
    folder = make_variants(build.dir, a.model, work)
    layout = os.path.join(work, "layout")
    env = dict(os.environ, SOURCE_DATE_EPOCH="0")
    check(subprocess.run([build.continuum, "pack", folder, "-t", REF, "--output", layout], capture_output=True,
                         text=True, env=env), "pack")
    r = check(subprocess.run([build.continuum, "inspect", REF, "--layout", layout, "--json"], capture_output=True,
                             text=True), "inspect")
    choice = json.loads(r.stdout)
    print(benchlib.machine_line())
    print("model %s (%d x %d), batch 1, 1 intra-op thread; accuracy on %d fixed rows" % (
        a.model, width, width, ROWS))
    print("this machine (%s) would install: %s -- %s" % (
        ",".join(choice["hardware"]["cpu_features"]), choice["choice"]["name"], choice["choice"]["reason"]))
    acc = accuracy(build, folder, width)
    speed = {}
    for v in ("fp32", "int8", "fp16"):
        argv = [build.inproc, "--model", os.path.join(folder, "variants", v, "1", "model.onnx"),
                "--intra-op-threads", "1", "--duration", str(a.duration), "--warmup", "1", "--phase", "latency",
                "--json"]
        r = check(subprocess.run(benchlib.pinned(benchlib.SERVER_CPUS, argv), capture_output=True, text=True),
                  "inproc " + v)
        speed[v] = json.loads(r.stdout)["latency"]
    sizes = {v: os.path.getsize(os.path.join(folder, "variants", v, "1", "model.onnx")) for v in speed}
    print("%-5s %10s %10s %9s %12s %14s %7s %9s" % ("", "p50 us", "p90 us", "vs fp32", "size", "max abs err",
                                                     "top-1", "size/fp32"))
    for v in ("fp32", "int8", "fp16"):
        s, e = speed[v], acc[v]
        print("%-5s %10.1f %10.1f %8.2fx %12d %14.5f %6.1f%% %8.2fx" % (
            v, s["p50_us"], s["p90_us"], speed["fp32"]["p50_us"] / s["p50_us"], sizes[v], e["max_abs_err"],
            100 * e["top1"], sizes[v] / sizes["fp32"]))
    print("(vs fp32: fp32 p50 / variant p50, above 1 is faster; max abs err against fp32 outputs of magnitude "
          "up to %.3f)" % acc["fp32"]["fp32_max_abs"])
    benchlib.result_line("variants", "int8 top-1 >= 90%", acc["int8"]["top1"] >= 0.9,
                         "int8 %.2fx fp32 speed, top-1 %.1f%%; fp16 %.2fx, top-1 %.1f%%" % (
                             speed["fp32"]["p50_us"] / speed["int8"]["p50_us"], 100 * acc["int8"]["top1"],
                             speed["fp32"]["p50_us"] / speed["fp16"]["p50_us"], 100 * acc["fp16"]["top1"]))


if __name__ == "__main__":
    main()
