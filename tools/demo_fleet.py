#!/usr/bin/python3
"""`make demo`, the fleet: a hub, three nodes (device, edge, cloud) each running `continuum serve`
with a `continuum agent` beside it, a real OCI registry, and the gateway learning its topology from
the hub. A catalog model (tiny-bert-sentiment) is packed, signed and pushed as version 1 and rolled
out; then version 2 is published and rolled out in batches (one node at a time, each watched for a
few seconds) while the gateway keeps answering and moves to version 2 as the nodes get it.

Usage: tools/demo_fleet.py BUILD_DIR [--check] [--keep]
  --check  exit 1 unless the rollout reached every node and the gateway answered from version 2
  --keep   keep everything running at the end until Ctrl-C (the dashboard stays up)
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from registry import Registry  # noqa: E402  (the tests' registry fixture: Debian's docker-registry)

MODEL = "tiny-bert-sentiment"
ENTRY = "@cf/continuum/tiny-bert-sentiment"


class Proc:
    def __init__(self, name, argv, ready, env=None):
        e = dict(os.environ, COSIGN_PASSWORD="")
        e.update(env or {})
        self.name = name
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
                                     start_new_session=True)
        self.out, self.err = [], []
        threading.Thread(target=self._drain, args=(self.proc.stdout, self.out), daemon=True).start()
        threading.Thread(target=self._drain, args=(self.proc.stderr, self.err), daemon=True).start()
        deadline = time.time() + 60
        while not any(ready in l for l in self.out):
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("%s did not start:\n%s" % (name, "".join(self.err[-20:])))
            time.sleep(0.05)

    @staticmethod
    def _drain(f, into):
        for line in f:
            into.append(line)

    def port(self):
        line = [l for l in self.out if "listening on port" in l][0]
        return int(line.strip().rsplit(" ", 1)[1])

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def call(url, method="GET", body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None, dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace"), dict(e.headers)
    except OSError as e:
        return 0, str(e), {}


def run(binary, *args):
    r = subprocess.run([binary, *args], capture_output=True, text=True, env=dict(os.environ, COSIGN_PASSWORD=""),
                       timeout=300)
    if r.returncode != 0:
        raise RuntimeError("continuum %s failed: %s" % (args[0], r.stderr))
    return r.stdout.strip()


def request_for(metadata):
    """A request with every input filled with ones, dynamic dimensions 8 (batch 1)."""
    inputs = []
    for i in metadata["inputs"]:
        shape = [1 if n == 0 else (8 if d < 0 else d) for n, d in enumerate(i["shape"])]
        count = 1
        for d in shape:
            count *= d
        inputs.append({"name": i["name"], "datatype": i["datatype"], "shape": shape, "data": [1] * count})
    return {"inputs": inputs}


def wait(cond, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if cond():
            return True
        time.sleep(0.2)
    raise RuntimeError("timed out waiting for " + what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    binary = os.path.join(build, "bin", "continuum")
    catalog = os.path.join(build, "task_catalog")
    source = os.path.join(catalog, "models", MODEL)
    if not os.path.isdir(source):
        sys.exit("demo: %s is missing; run `make build` first" % source)
    work = tempfile.mkdtemp(prefix="continuum-fleet-demo-")
    procs = []
    registry = Registry()
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    ok = False
    try:
        registry.__enter__()
        ref = lambda tag: "%s/models/%s:%s" % (registry.host, MODEL, tag)  # noqa: E731
        for k in ("cosign", "hub"):
            run(binary, "generate-key-pair", "--output-key-prefix", os.path.join(work, k))
        layout = os.path.join(work, "layout")

        def publish(tag, versions):
            folder = os.path.join(work, "src-" + tag, MODEL)
            for v in versions:
                os.makedirs(os.path.join(folder, str(v)))
                for f in os.listdir(os.path.join(source, "1")):
                    shutil.copy(os.path.join(source, "1", f), os.path.join(folder, str(v), f))
            for f in os.listdir(source):
                if os.path.isfile(os.path.join(source, f)):
                    shutil.copy(os.path.join(source, f), os.path.join(folder, f))
            digest = run(binary, "pack", folder, "-t", ref(tag), "--output", layout).split()[-1]
            run(binary, "sign", ref(tag), "--key", os.path.join(work, "cosign.key"), "--layout", layout)
            run(binary, "push", ref(tag), "--layout", layout, "--insecure")
            print("published %s (versions %s) as %s" % (ref(tag), ",".join(map(str, versions)), digest[:19]))
            return digest

        d1 = publish("1", [1])
        hub = Proc("hub", [binary, "hub", "--key", os.path.join(work, "hub.key"), "--store",
                           "sqlite:" + os.path.join(work, "hub.db"), "--http-port", "0", "--http-address", "127.0.0.1",
                           "--tick-ms", "200", "--registry-insecure"], "listening on port")
        procs.append(hub)
        hub_url = "http://127.0.0.1:%d" % hub.port()
        print("hub on %s (dashboard: %s/)" % (hub_url, hub_url))
        nodes = {}
        for name, tier, juris in (("phone", "device", "eu"), ("edge-paris", "edge", "eu"), ("cloud-1", "cloud", "eu,us")):
            repo = os.path.join(work, name, "repo")
            cat = os.path.join(work, name, "catalog")
            os.makedirs(repo)
            os.makedirs(cat)
            entry = [e for e in os.listdir(os.path.join(catalog, "catalog"))
                     if ENTRY in open(os.path.join(catalog, "catalog", e, "catalog.json")).read()]
            if entry:
                shutil.copytree(os.path.join(catalog, "catalog", entry[0]), os.path.join(cat, entry[0]))
            serve = Proc(name + "-serve", [binary, "serve", "--model-repository", repo, "--catalog", cat,
                                           "--http-port", "0", "--http-address", "127.0.0.1", "--grpc-port", "0",
                                           "--intra-op-threads", "1", "--model-control-mode", "poll",
                                           "--repository-poll-secs", "1"], "listening on port")
            procs.append(serve)
            url = "http://127.0.0.1:%d" % serve.port()
            agent = Proc(name + "-agent", [binary, "agent", "--hub", hub_url, "--name", name, "--hub-key",
                                           os.path.join(work, "hub.pub"), "--key", os.path.join(work, "cosign.pub"),
                                           "--model-repository", repo, "--state-dir", os.path.join(work, name, "agent"),
                                           "--serve-url", url, "--registry-insecure", "--report-interval-ms", "300",
                                           "--wait-s", "10", "--serve-poll-secs", "1", "--property", "tier=" + tier,
                                           "--property", "jurisdiction=list:" + juris], "continuum agent: ready")
            procs.append(agent)
            nodes[name] = url
            print("node %-10s tier %-6s serve %s + agent" % (name, tier, url))

        rollout = {"batch_size": 1, "min_success_ms": 3000, "health_timeout_ms": 60000, "min_requests": 1000000}

        def apply(tag):
            status, body, _ = call(hub_url + "/api/v1/deployments/sentiment", "PUT",
                                   {"package": ref(tag), "model": MODEL, "rollout": rollout})
            if status != 200:
                raise RuntimeError("apply: %s %s" % (status, body))

        def show_rollout(until_phase):
            last = None
            deadline = time.time() + 180
            while time.time() < deadline:
                r = call(hub_url + "/api/v1/rollouts/sentiment")[1]
                if isinstance(r, dict):
                    line = "  rollout %-11s " % r["phase"] + "  ".join(
                        "[%s: %s]" % (",".join(b["nodes"]), b["state"]) for b in r["batches"])
                    if line != last:
                        print(line)
                        last = line
                    if r["phase"] == until_phase:
                        return r
                time.sleep(0.3)
            raise RuntimeError("the rollout did not reach " + until_phase)

        print("\n1. deploying %s version 1 to every node" % MODEL)
        apply("1")
        show_rollout("succeeded")
        gw = Proc("gateway", [binary, "gateway", "--hub", hub_url, "--http-port", "0", "--http-address",
                              "127.0.0.1"], "listening on port")
        procs.append(gw)
        gw_url = "http://127.0.0.1:%d" % gw.port()
        first = list(nodes.values())[0]
        wait(lambda: call(first + "/v2/models/%s/versions/1/ready" % MODEL)[0] == 200, 60, "version 1 ready")
        body = request_for(call(first + "/v2/models/" + MODEL)[1])
        wait(lambda: call(gw_url + "/v2/models/%s/versions/1/infer" % MODEL, "POST", body)[0] == 200, 60,
             "the gateway routing version 1")
        print("gateway %s routes %s version 1" % (gw_url, MODEL))

        print("\n2. publishing version 2 and rolling it out in batches of one node")
        d2 = publish("2", [1, 2])
        apply("2")
        answered, failed = {}, 0
        stop = threading.Event()

        def traffic():
            # Requests for the model, any version: each node answers with the version it serves.
            nonlocal failed
            while not stop.is_set():
                s, out, h = call(gw_url + "/v2/models/%s/infer" % MODEL, "POST", body, timeout=10)
                if s == 200 and isinstance(out, dict):
                    key = (int(out.get("model_version", 0)), h.get("X-Continuum-Node", "?"))
                    answered[key] = answered.get(key, 0) + 1
                else:
                    failed += 1
                time.sleep(0.05)

        t = threading.Thread(target=traffic, daemon=True)
        t.start()
        r = show_rollout("succeeded")
        wait(lambda: any(v == 2 for v, _ in answered), 60, "the gateway answering from version 2")
        stop.set()
        t.join()
        print("\ngateway answers during the rollout (version, node: count):")
        for (v, n), c in sorted(answered.items()):
            print("  v%d %-10s %d" % (v, n, c))
        print("requests that failed during the rollout: %d" % failed)
        events = call(hub_url + "/api/v1/events?limit=200")[1]
        print("\nthe hub's decisions:")
        for e in events:
            if e["kind"] in ("rollout_started", "batch_started", "batch_succeeded", "succeeded"):
                print("  %-16s %s" % (e["kind"], e["reason"]))
        ok = r["phase"] == "succeeded" and len(r["batches"]) == 3 and failed == 0 and d1 != d2
        print("\nfleet demo: %s" % ("OK" if ok else "FAILED"))
        if args.keep:
            print("dashboard: %s/ — Ctrl-C to stop" % hub_url)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        for p in reversed(procs):
            p.stop()
        registry.__exit__(None, None, None)
        shutil.rmtree(work, ignore_errors=True)
    if args.check and not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
