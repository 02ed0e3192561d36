"""bench/routing/procs.py: the processes of the routing benchmark (node, link relay, gateway),
each a real child process on a real port, registered with benchlib's cleanup."""
import json
import os
import re
import signal
import subprocess
import sys
import time

import benchlib as B  # noqa: E402  (run.py puts bench/ on the path)


class Proc:
    """A child process whose stdout goes to a file; registered with benchlib's cleanup."""

    def __init__(self, argv, what, port_re):
        self.what = what
        d = B.tmpdir("continuum-routing-")
        self.out_path = os.path.join(d, "stdout")
        self.err_path = os.path.join(d, "stderr")
        self._out = open(self.out_path, "w")
        self._err = open(self.err_path, "w")
        self.proc = subprocess.Popen(argv, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL)
        B._procs.append(self.proc)
        self.started = time.monotonic()
        self.port_re = re.compile(port_re)
        self.port = None

    def wait_port(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with open(self.out_path) as f:
                m = self.port_re.search(f.read())
            if m:
                self.port = int(m.group(1))
                return self.port
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        self.fail("did not start")

    def stdout(self):
        with open(self.out_path) as f:
            return f.read()

    def fail(self, why):
        with open(self.err_path) as f:
            tail = f.read()[-3000:]
        sys.exit("routing: %s %s (exit %s)\n%s%s" % (self.what, why, self.proc.poll(), self.stdout()[-1000:], tail))

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc in B._procs:
            B._procs.remove(self.proc)


def http_get(port, path, timeout=5):
    import http.client
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


def wait_ready(port, path="/v2/health/ready", timeout=120, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if http_get(port, path)[0] == 200:
                return
        except OSError:
            pass
        if proc is not None and proc.proc.poll() is not None:
            proc.fail("exited")
        time.sleep(0.05)
    if proc is not None:
        proc.fail("not ready")
    sys.exit("routing: port %d not ready" % port)


_serve_help = None


def serve_supports(build, flag):
    global _serve_help
    if _serve_help is None:
        r = subprocess.run([build.continuum, "serve", "--help"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
        _serve_help = r.stdout
    return ("--" + flag) in _serve_help


class _Server:
    """A Proc that serves HTTP on the port it prints, ready when /v2/health/ready answers 200."""

    def ready(self):
        self.proc.wait_port()
        wait_ready(self.proc.port, proc=self.proc)
        return self

    @property
    def port(self):
        return self.proc.port


class Node(_Server):
    """One `continuum serve` process."""

    def __init__(self, build, name, models, scale=1.0, straggler=None, seed=1):
        self.name = name
        repo = B.make_repository(build, {m: {"max_batch_size": 8} for m in models})
        argv = [build.continuum, "serve", "--model-repository", repo, "--http-port", "0",
                "--http-address", "127.0.0.1", "--intra-op-threads", "1"]
        if serve_supports(build, "grpc-port"):  # several nodes: none takes the fixed gRPC port
            argv += ["--grpc-port", "-1"]
        if scale != 1.0 and serve_supports(build, "compute-scale"):
            argv += ["--compute-scale", "%g" % scale]
        if straggler and serve_supports(build, "inject-straggler-fraction"):
            argv += ["--inject-straggler-fraction", "%g" % straggler[0], "--inject-straggler-ms",
                     "%g" % straggler[1], "--inject-seed", str(seed)]
        self.models = list(models)
        self.proc = Proc(argv, "continuum serve (%s)" % name, r"listening on port (\d+)")

    def request_count(self, model):
        """Requests the node answered for `model` (successes + failures), from /stats."""
        st, data = http_get(self.port, "/v2/models/%s/stats" % model)
        if st != 200:
            return 0
        s = json.loads(data)["model_stats"][0]["inference_stats"]
        return s["success"]["count"] + s["fail"]["count"]


class Relay:
    """One `continuum linkemu` relay in front of a node, playing a link scenario file."""

    def __init__(self, build, target_port, scenario_file, name):
        self.name = name
        self.proc = Proc([build.continuum, "linkemu", "--listen", "127.0.0.1:0", "--target",
                          "127.0.0.1:%d" % target_port, "--scenario", scenario_file],
                         "continuum linkemu (%s)" % name, r"listening on 127\.0\.0\.1:(\d+)")

    def ready(self):
        self.proc.wait_port()
        return self

    @property
    def port(self):
        return self.proc.port

    def stop(self):
        """Stops the relay; returns (bytes up, bytes down, chunks held back as lost)."""
        self.proc.stop()
        m = re.search(r"(\d+) bytes up, (\d+) bytes down, (\d+) chunks", self.proc.stdout())
        return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)


class Gateway(_Server):
    def __init__(self, build, topology, name, probe_ms=250, extra=()):
        self.name = name
        d = B.tmpdir("continuum-routing-gw-")
        self.topology_path = os.path.join(d, "topology.json")
        with open(self.topology_path, "w") as f:
            json.dump(topology, f, indent=1)
        self.decision_log = os.path.join(d, "decisions.jsonl")
        self.proc = Proc([build.continuum, "gateway", "--topology", self.topology_path, "--http-port", "0",
                          "--http-address", "127.0.0.1", "--decision-log", self.decision_log,
                          "--probe-interval-ms", str(probe_ms), *extra],
                         "continuum gateway (%s)" % name, r"listening on port (\d+)")

    def hedges(self):
        """continuum_gateway_hedges_total by result, from the gateway's /metrics ({} if it has none)."""
        st, data = http_get(self.port, "/metrics")
        if st != 200:
            return {}
        text = data.decode() if isinstance(data, bytes) else data
        return {m.group(1): int(float(m.group(2)))
                for m in re.finditer(r'^continuum_gateway_hedges_total\{result="(\w+)"\} (\S+)$', text, re.M)}

    def decisions(self):
        out = []
        try:
            with open(self.decision_log) as f:
                for line in f:
                    out.append(json.loads(line))
        except OSError:
            pass
        return out
