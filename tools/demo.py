#!/usr/bin/python3
"""`make demo`: the continuum on one machine.

Starts a cloud node (every catalog model), an edge node (the small models), an emulated device
node (its compute padded by --compute-scale), a link emulator on the device->edge and the
device->cloud links, and the gateway in front; then drives a scripted scenario (good Wi-Fi ->
congested LTE -> the edge cut off -> recovery) and prints, as the links change, where each kind of
request goes and why. Keeps serving until Ctrl-C, then stops everything it started.

Usage: tools/demo.py BUILD_DIR [--port 8080] [--seconds N] (N: length of the scripted part)
"""
import argparse
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The device->edge link: what a phone on the move sees (the scripted scenario, then it loops).
EDGE_LINK = {
    "schema_version": 1,
    "description": "device -> edge: good Wi-Fi, congested LTE, the edge cut off, recovery",
    "seed": 7, "loop": True,
    "phases": [
        {"name": "good Wi-Fi", "duration_s": 12,
         "up": {"delay_ms": 3, "jitter_ms": 1, "bandwidth_kbps": 50000},
         "down": {"delay_ms": 3, "jitter_ms": 1, "bandwidth_kbps": 100000}},
        {"name": "congested LTE", "duration_s": 12,
         "up": {"delay_ms": 60, "jitter_ms": 15, "bandwidth_kbps": 2000, "loss": 0.01},
         "down": {"delay_ms": 50, "jitter_ms": 10, "bandwidth_kbps": 8000}},
        {"name": "edge cut off", "duration_s": 10, "partition": True, "partition_mode": "reset"},
        {"name": "recovery", "duration_s": 12,
         "up": {"delay_ms": 8, "jitter_ms": 2, "bandwidth_kbps": 20000},
         "down": {"delay_ms": 8, "jitter_ms": 2, "bandwidth_kbps": 40000}},
    ],
}
# The device->cloud link: a steady wide-area path to a far region.
CLOUD_LINK = {
    "schema_version": 1, "description": "device -> cloud: a steady WAN path", "seed": 11, "loop": True,
    "phases": [{"name": "WAN", "duration_s": 3600,
                "up": {"delay_ms": 35, "jitter_ms": 3, "bandwidth_kbps": 20000},
                "down": {"delay_ms": 35, "jitter_ms": 3, "bandwidth_kbps": 50000}}],
}
DEVICE_SCALE = 12  # the emulated device computes 12x slower than this machine

SMALL = ["add_sub", "mlp", "mlp_big", "tiny-bert-embeddings", "tiny-bert-sentiment", "silero_vad"]


class Proc:
    """A child process whose first stdout line says where it listens; output kept for the end."""

    def __init__(self, name, argv, ready_word):
        self.name = name
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.lines = []
        line = self.proc.stdout.readline()
        if ready_word not in line:
            err = self.proc.stderr.read()
            raise RuntimeError("%s did not start: %r\n%s" % (name, line, err[-2000:]))
        self.first = line.strip()
        threading.Thread(target=self._drain, args=(self.proc.stdout,), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stderr,), daemon=True).start()

    def _drain(self, f):
        for line in f:
            self.lines.append(line.rstrip())

    def port(self):
        # "continuum serve: listening on port N" / "linkemu: listening on H:P, relaying to ..."
        word = self.first.split("listening on ", 1)[1].split(",")[0].split()[-1]
        return int(word.rsplit(":", 1)[-1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def link_repository(dst, sources, names=None):
    """A repository of symlinked model folders from `sources` (only `names` when given)."""
    os.makedirs(dst, exist_ok=True)
    for src in sources:
        for m in sorted(os.listdir(src)):
            if (names is None or m in names) and os.path.isdir(os.path.join(src, m)) and \
                    not os.path.exists(os.path.join(dst, m)):
                os.symlink(os.path.join(src, m), os.path.join(dst, m))
    return dst


def link_catalog(dst, src, keep):
    """A catalog of the entries of `src` whose models all live in `keep` (a set of model names)."""
    os.makedirs(dst, exist_ok=True)
    for entry in sorted(os.listdir(src)):
        path = os.path.join(src, entry, "catalog.json")
        if not os.path.isfile(path):
            continue
        with open(path) as f:
            models = json.load(f).get("models", {})
        names = models.values() if isinstance(models, dict) else models
        if all(n in keep for n in names):
            os.symlink(os.path.join(src, entry), os.path.join(dst, entry))
    return dst


def post(port, path, body, policy, content_type="application/json", timeout=20):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    t0 = time.time()
    try:
        c.request("POST", path, body=body, headers={"Content-Type": content_type, "X-Continuum-Policy": policy})
        r = c.getresponse()
        data = r.read()
        return (r.status, (time.time() - t0) * 1000, r.getheader("X-Continuum-Node", "none"),
                r.getheader("X-Continuum-Fallback-Step", "none"), r.getheader("X-Continuum-Reason", ""), data)
    except OSError as e:
        return (0, (time.time() - t0) * 1000, "none", "none", str(e), b"")
    finally:
        c.close()


def tensor_body(name, shape, value=0.1):
    n = 1
    for d in shape:
        n *= d
    return json.dumps({"inputs": [{"name": name, "datatype": "FP32", "shape": shape, "data": [value] * n}]})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    ap.add_argument("--seconds", type=float, default=48, help="length of the scripted part")
    ap.add_argument("--no-wait", action="store_true", help="stop after the scripted part")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless every request was answered 200, no residency=eu request left eu "
                         "and the decision log verifies (implies --no-wait)")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    binary = os.path.join(build, "bin", "continuum")
    catalog = os.path.join(build, "task_catalog")
    if not os.path.isfile(os.path.join(catalog, ".stamp")):
        sys.exit("demo: %s is missing; run `make build` first" % catalog)

    work = tempfile.mkdtemp(prefix="continuum-demo-")
    procs = []

    def cleanup(*_):
        for p in reversed(procs):
            p.stop()
        shutil.rmtree(work, ignore_errors=True)

    def on_signal(signum, _frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_signal)
    try:
        test_models = os.path.join(build, "test_models")
        cat_models = os.path.join(catalog, "models")
        cloud_repo = link_repository(os.path.join(work, "cloud"), [cat_models],
                                     None)
        link_repository(cloud_repo, [test_models], ["add_sub", "mlp", "mlp_big"])
        edge_repo = link_repository(os.path.join(work, "edge"), [cat_models, test_models], SMALL)
        device_repo = link_repository(os.path.join(work, "device"), [cat_models, test_models],
                                      ["add_sub", "mlp", "mlp_big", "tiny-bert-embeddings"])
        cloud_cat = os.path.join(catalog, "catalog")
        edge_cat = link_catalog(os.path.join(work, "edge-catalog"), cloud_cat, set(os.listdir(edge_repo)))
        device_cat = link_catalog(os.path.join(work, "device-catalog"), cloud_cat, set(os.listdir(device_repo)))

        def serve(name, repo, cat, *flags):
            p = Proc(name, [binary, "serve", "--model-repository", repo, "--catalog", cat, "--http-port", "0",
                            "--http-address", "127.0.0.1", "--grpc-port", "0", "--intra-op-threads", "1", *flags], "listening on port")
            procs.append(p)
            return p

        print("Starting the cloud node (every catalog model), the edge node (small models) and the device ...")
        cloud = serve("cloud", cloud_repo, cloud_cat)
        edge = serve("edge", edge_repo, edge_cat)
        device = serve("device", device_repo, device_cat, "--compute-scale", str(DEVICE_SCALE))

        def relay(name, target, scenario):
            path = os.path.join(work, name + ".json")
            with open(path, "w") as f:
                json.dump(scenario, f)
            p = Proc(name, [binary, "linkemu", "--listen", "127.0.0.1:0", "--target", "127.0.0.1:%d" % target,
                            "--scenario", path], "listening on")
            procs.append(p)
            return p

        edge_link = relay("link-edge", edge.port(), EDGE_LINK)
        cloud_link = relay("link-cloud", cloud.port(), CLOUD_LINK)

        def models(repo, cat):
            # Repository models for the v2 API, catalog entries (by their task-API name) for /ai/run.
            held = [{"name": m, "versions": [1]} for m in sorted(os.listdir(repo))]
            for entry in sorted(os.listdir(cat)):
                with open(os.path.join(cat, entry, "catalog.json")) as f:
                    held.append({"name": json.load(f)["name"], "versions": [1]})
            return held

        topology = {
            "schema_version": 1,
            "residency_classes": ["eu", "us"],
            "nodes": [
                {"name": "phone", "url": "http://127.0.0.1:%d" % device.port(), "tier": "device",
                 "jurisdiction": ["eu"], "hardware": "emulated phone (%dx slower)" % DEVICE_SCALE,
                 "cost_per_compute_second": 0, "energy_per_compute_second": 3, "models": models(device_repo, device_cat)},
                {"name": "edge-paris", "url": "http://127.0.0.1:%d" % edge_link.port(), "tier": "edge",
                 "region": "eu-west", "jurisdiction": ["eu"], "hardware": "edge box",
                 "cost_per_compute_second": 0.002, "energy_per_compute_second": 30, "models": models(edge_repo, edge_cat)},
                {"name": "cloud-virginia", "url": "http://127.0.0.1:%d" % cloud_link.port(), "tier": "cloud",
                 "region": "us-east-1", "jurisdiction": ["us"], "hardware": "cloud CPU",
                 "cost_per_compute_second": 0.0005, "energy_per_compute_second": 200, "models": models(cloud_repo, cloud_cat)},
            ],
            "links": [
                {"from": "gateway", "to": "phone", "rtt_ms": 0.2, "bandwidth_mbps": 10000},
                {"from": "gateway", "to": "edge-paris", "rtt_ms": 6, "bandwidth_mbps": 50},
                {"from": "gateway", "to": "cloud-virginia", "rtt_ms": 70, "bandwidth_mbps": 20},
            ],
        }
        topo_path = os.path.join(work, "topology.json")
        with open(topo_path, "w") as f:
            json.dump(topology, f, indent=1)
        log_path = os.path.join(work, "decisions.jsonl")
        gw = Proc("gateway", [binary, "gateway", "--topology", topo_path, "--http-port", str(args.port),
                              "--http-address", "127.0.0.1", "--decision-log", log_path,
                              "--request-timeout-ms", "5000", "--probe-interval-ms", "500"], "listening on port")
        procs.append(gw)
        port = gw.port()
        for p in (cloud, edge, device):
            deadline = time.time() + 120
            while time.time() < deadline:
                c = http.client.HTTPConnection("127.0.0.1", p.port(), timeout=2)
                try:
                    c.request("GET", "/v2/health/ready")
                    if c.getresponse().status == 200:
                        break
                except OSError:
                    pass
                finally:
                    c.close()
                time.sleep(0.2)

        png = os.path.join(work, "line.png")
        subprocess.run(["convert", "-size", "520x64", "xc:white", "-fill", "black", "-pointsize", "36",
                        "-font", "DejaVu-Sans", "-draw", "text 12,46 'Continuum at the edge'", png],
                       check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ocr_body = open(png, "rb").read() if os.path.exists(png) else b""

        kinds = [
            ("mlp_big, fastest", "/v2/models/mlp_big/infer", tensor_body("x", [4, 1024]),
             "objective=fastest", "application/json"),
            ("embeddings, residency=eu", "/ai/run/@cf/continuum/tiny-bert-embeddings",
             json.dumps({"text": ["edge", "cloud", "device"]}), "residency=eu; objective=fastest",
             "application/json"),
            ("add_sub, least energy", "/v2/models/add_sub/infer",
             json.dumps({"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 16], "data": [1] * 16},
                                    {"name": "INPUT1", "datatype": "FP32", "shape": [1, 16], "data": [2] * 16}]}),
             "objective=least_energy; latency_target_ms=150", "application/json"),
        ]
        if ocr_body:
            kinds.append(("OCR (cloud only)", "/ai/run/@cf/paddle/pp-ocrv4", ocr_body, "objective=fastest",
                          "image/png"))

        print()
        print("device  http://127.0.0.1:%d  (%dx slower compute, eu)" % (device.port(), DEVICE_SCALE))
        print("edge    http://127.0.0.1:%d  via link emulator :%d (eu)" % (edge.port(), edge_link.port()))
        print("cloud   http://127.0.0.1:%d  via link emulator :%d (us)" % (cloud.port(), cloud_link.port()))
        print("gateway http://127.0.0.1:%d  (topology %s)" % (port, topo_path))
        print()
        print("Every second, one request of each kind goes to the gateway; each line says where it ran and why.")
        print("The device->edge link changes as it would for a phone on the move:")
        print("  good Wi-Fi 12 s -> congested LTE 12 s -> edge cut off 10 s -> recovery 12 s")

        shown_phase = [0]
        failures = 0
        t_start = time.time()
        while time.time() - t_start < args.seconds:
            # Phase changes printed by the edge link's emulator.
            for line in edge_link.lines[shown_phase[0]:]:
                if "phase" in line:
                    print("\n\033[1m-- link device->edge: %s\033[0m" % line.split("] ", 1)[-1])
            shown_phase[0] = len(edge_link.lines)
            t = time.time() - t_start
            results = []
            threads = []
            for label, path, body, policy, ctype in kinds:
                def run(label=label, path=path, body=body, policy=policy, ctype=ctype):
                    results.append((label, post(port, path, body, policy, ctype)))
                th = threading.Thread(target=run)
                th.start()
                threads.append(th)
            for th in threads:
                th.join()
            order = [k[0] for k in kinds]
            for label, (status, ms, node, step, reason, _) in sorted(results, key=lambda r: order.index(r[0])):
                failures += status != 200
                print("  t=%5.1fs %-26s %3d %-15s %7.1f ms  step %-5s %s" %
                      (t, label, status, node, ms, step, reason[:110]))
            time.sleep(max(0.0, 1.0 - (time.time() - t_start - t)))

        with open(log_path) as f:
            records = [json.loads(line) for line in f]
        by_node = {}
        for r in records:
            by_node[r.get("choice") or "none"] = by_node.get(r.get("choice") or "none", 0) + 1
        eu_outside = sum(1 for r in records if r["policy"].get("residency") == "eu" and r.get("choice") == "cloud-virginia")
        print("\nScripted part done: %d requests, served by %s; residency=eu requests sent to the us cloud: %d."
              % (len(records), ", ".join("%s %d" % kv for kv in sorted(by_node.items())), eu_outside))
        verify = subprocess.run([binary, "decisions", "verify", log_path],
                                capture_output=True, text=True)
        if verify.returncode == 0:
            print("Decision log %s: hash chain verified." % log_path)
        gw_url = "http://127.0.0.1:%d" % port
        print("""
Try it by hand (the links keep cycling through the same phases):
  curl -s -D - -X POST %(gw)s/v2/models/add_sub/infer -H 'X-Continuum-Policy: objective=fastest' \\
       -d '{"inputs":[{"name":"INPUT0","datatype":"FP32","shape":[1,16],"data":[%(ones)s]},
                      {"name":"INPUT1","datatype":"FP32","shape":[1,16],"data":[%(ones)s]}]}'
  curl -s -X POST %(gw)s/ai/run/@cf/continuum/tiny-bert-sentiment -H 'X-Continuum-Policy: residency=eu' -d '{"text":"what a day"}'
  curl -s -X POST %(gw)s/ai/run/@cf/continuum/tiny-bert-sentiment -H 'X-Continuum-Policy: residency=mars' -d '{"text":"x"}'
  curl -s %(cloud)s/v2/models/stats           # the cloud node's statistics
  tail -f %(log)s                             # the decision log (one hash-chained record per request)
Serving until Ctrl-C.""" % {"gw": gw_url, "ones": ",".join(["1"] * 16), "cloud": "http://127.0.0.1:%d" % cloud.port(),
                              "log": log_path})
        if args.check:
            ok = failures == 0 and eu_outside == 0 and verify.returncode == 0 and len(records) > 0
            print("demo check: %s (%d failed requests)" % ("ok" if ok else "FAILED", failures))
            return 0 if ok else 1
        if args.no_wait:
            return 0
        while all(p.proc.poll() is None for p in procs):
            time.sleep(0.5)
        dead = [p.name for p in procs if p.proc.poll() is not None]
        print("demo: %s exited; stopping" % ", ".join(dead))
        return 1
    except KeyboardInterrupt:
        print("\nStopping ...")
        return 0
    finally:
        cleanup()


if __name__ == "__main__":
    sys.exit(main())
