"""Shared helpers for the benchmark scripts in bench/ (run with /usr/bin/python3).

- CPU layout: on a machine with two or more CPUs the server under test (or the in-process
  baseline) is pinned to the last CPU this process may use and the load generator to the others
  (taskset), so client and server do not fight over one core at saturation. Sequential
  (1-connection) latency runs put the load generator on the server's CPU instead: the client
  idles while it waits, and on the 2-vCPU VM each wake-up across vCPUs costs ~35 us, which would
  measure the hypervisor rather than the server (serve_overhead.py prints both layouts). Override with the environment
  variables CONTINUUM_BENCH_SERVER_CPUS / CONTINUUM_BENCH_CLIENT_CPUS (taskset -c lists; an
  empty value disables pinning for that side).
- Servers (continuum serve, the Node.js server) are started on free ports (--http-port 0) and
  always stopped on exit: atexit, SIGINT and SIGTERM all end them.
- Requests are prebuilt HTTP/1.1 request files that continuum_loadgen replays byte for byte.
"""
import atexit
import csv
import http.client
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.environ.get("CONTINUUM_CACHE") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "continuum")
# Triton's perf_analyzer, as tools/perf_analyzer.sh installs it (Linux x86_64 only).
PERF_ANALYZER = os.path.join(CACHE, "perf_analyzer", "perf_analyzer")

_procs = []
_tmpdirs = []


def _cleanup():
    for p in _procs:
        if p.poll() is None:
            p.terminate()
    for p in _procs:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    _procs.clear()
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)
    _tmpdirs.clear()


def _on_signal(signum, frame):
    _cleanup()
    sys.exit(128 + signum)


atexit.register(_cleanup)
signal.signal(signal.SIGINT, _on_signal)
signal.signal(signal.SIGTERM, _on_signal)


def tmpdir(prefix="continuum-bench-"):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


class Build:
    def __init__(self, build_dir):
        self.dir = os.path.abspath(build_dir)
        self.continuum = os.path.join(self.dir, "bin", "continuum")
        self.loadgen = os.path.join(self.dir, "bin", "continuum_loadgen")
        self.inproc = os.path.join(self.dir, "bin", "continuum_inproc_bench")
        self.models = os.path.join(self.dir, "test_models")
        for f in (self.continuum, self.loadgen, self.inproc, os.path.join(self.models, "add_sub")):
            if not os.path.exists(f):
                sys.exit("bench: %s is missing; build first: ninja -C %s continuum continuum_loadgen "
                         "continuum_inproc_bench test_models" % (f, build_dir))

    def model_file(self, name):
        return os.path.join(self.models, name, "1", "model.onnx")


def build_from_argv():
    return Build(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build"))


# --- CPU layout ---------------------------------------------------------------------------

def _cpus_env(name, default):
    v = os.environ.get(name)
    return default if v is None else v


def cpu_layout():
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) >= 2:
        server, client = str(cpus[-1]), ",".join(str(c) for c in cpus[:-1])
    else:
        server, client = "", ""
    return (_cpus_env("CONTINUUM_BENCH_SERVER_CPUS", server), _cpus_env("CONTINUUM_BENCH_CLIENT_CPUS", client))


SERVER_CPUS, CLIENT_CPUS = cpu_layout()


def pinned(cpus, argv):
    return (["taskset", "-c", cpus] + argv) if cpus else argv


def machine_line():
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return ("machine: %d CPUs (%s); load average %s; server/baseline on CPU %s, load generator on CPU %s"
            % (os.cpu_count(), model, load, SERVER_CPUS or "any", CLIENT_CPUS or "any"))


def wait_for_quiet(max_load=0.7, max_wait_s=None):
    """Waits (up to CONTINUUM_BENCH_WAIT_S seconds, default 0) for the 1-minute load to drop."""
    if max_wait_s is None:
        max_wait_s = float(os.environ.get("CONTINUUM_BENCH_WAIT_S", "0"))
    deadline = time.time() + max_wait_s
    while True:
        with open("/proc/loadavg") as f:
            load1 = float(f.read().split()[0])
        if load1 <= max_load or time.time() >= deadline:
            return load1
        time.sleep(10)


def tree_usage(pid):
    """(CPU seconds, context switches) of a process (all threads) and its descendants."""
    tick = os.sysconf("SC_CLK_TCK")
    cpu, switches, todo = 0, 0, [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/stat" % p) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            cpu += int(fields[11]) + int(fields[12])
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/status" % (p, t)) as f:
                    for line in f:
                        if line.startswith(("voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:")):
                            switches += int(line.split()[1])
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo += [int(c) for c in f.read().split()]
        except (OSError, ValueError):
            pass
    return cpu / tick, switches


# --- model repositories ---------------------------------------------------------------------

def make_repository(build, models):
    """models: {name: config dict or None}. Symlinks the generated test models into a temp repo."""
    root = tmpdir("continuum-bench-repo-")
    for name, config in models.items():
        os.makedirs(os.path.join(root, name, "1"))
        os.symlink(build.model_file(name), os.path.join(root, name, "1", "model.onnx"))
        if config is not None:
            with open(os.path.join(root, name, "config.json"), "w") as f:
                json.dump(config, f)
    return root


# --- servers --------------------------------------------------------------------------------

def free_port():
    """A TCP port free at the moment, for servers that cannot be told to pick one (port 0)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Process:
    """A server process. Without `port` it must print "listening on port N" first (the project's
    servers); with `port` (a server that takes its port from us) its output goes to the log."""

    ssl_context = None

    def __init__(self, argv, what, ready_path, env=None, port=None, cwd=None, ssl_context=None):
        self.what = what
        self.ssl_context = ssl_context  # set: the server speaks https (its certificate from its flags)
        self.log = os.path.join(tmpdir("continuum-bench-log-"), "stderr.log")
        self._log = open(self.log, "w")
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE if port is None else self._log, stderr=self._log,
                                     text=True, env=env, cwd=cwd)
        _procs.append(self.proc)
        if port is None:
            line = self.proc.stdout.readline()
            if "listening on port" not in line:
                self.fail("did not start (first line %r)" % line)
            port = int(line.strip().rsplit(" ", 1)[1])
        self.port = port
        self.wait_ok(ready_path, 120, "not ready")

    def wait_ok(self, path, timeout, why):
        """Polls GET `path` until it answers 200; fails with `why` after `timeout` s or if the process exits."""
        deadline = time.time() + timeout
        while True:
            try:
                if self.get(path)[0] == 200:
                    return
            except OSError:
                pass
            if time.time() > deadline or self.proc.poll() is not None:
                self.fail(why)
            time.sleep(0.05)

    def fail(self, why):
        self.stop()
        with open(self.log) as f:
            tail = f.read()[-3000:]
        sys.exit("bench: %s %s\n%s" % (self.what, why, tail))

    def request(self, method, path, body=None, headers=None):
        if self.ssl_context is not None:
            c = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=30, context=self.ssl_context)
        else:
            c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, data, r

    def get(self, path):
        status, data, _ = self.request("GET", path)
        return status, data

    def pid(self):
        return self.proc.pid

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc in _procs:
            _procs.remove(self.proc)
        self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


class ContinuumServer(_Process):
    """grpc_port: -1 (none) or the port for the gRPC endpoint (free_port())."""

    def __init__(self, build, repository, intra_op_threads=1, extra=(), grpc_port=-1, ssl_context=None):
        argv = pinned(SERVER_CPUS, [build.continuum, "serve", "--model-repository", repository,
                                    "--http-port", "0", "--http-address", "127.0.0.1", "--grpc-port", str(grpc_port),
                                    "--intra-op-threads", str(intra_op_threads), *extra])
        super().__init__(argv, "continuum serve", "/v2/health/ready", ssl_context=ssl_context)
        self.grpc_port = grpc_port

    def stats(self, model):
        status, data = self.get("/v2/models/%s/stats" % model)
        if status != 200:
            return None
        return json.loads(data)["model_stats"][0]


class NodeServer(_Process):
    def __init__(self, repository, models, intra_op_threads=1):
        argv = pinned(SERVER_CPUS, ["node", os.path.join(HERE, "node", "server.js"), "--model-repository",
                                    repository, "--port", "0", "--intra-op-threads", str(intra_op_threads),
                                    *models])
        super().__init__(argv, "node server", "/v2/health/ready")


def stats_breakdown(before, after):
    """Per-request server-side means (µs) between two /stats snapshots."""
    if not before or not after:
        return None

    def delta(key):
        a, b = after["inference_stats"][key], before["inference_stats"][key]
        return a["count"] - b["count"], a["ns"] - b["ns"]

    n, req_ns = delta("success")
    if n <= 0:
        return None
    out = {"requests": n, "executions": after["execution_count"] - before["execution_count"]}
    out["request_us"] = req_ns / n / 1e3
    for k in ("queue", "compute_input", "compute_infer", "compute_output"):
        c, ns = delta(k)
        out[k + "_us_per_request"] = ns / n / 1e3
        out[k + "_us_per_execution"] = ns / c / 1e3 if c else 0.0
    out["avg_batch"] = n / out["executions"] if out["executions"] else 0.0
    return out


# --- requests -------------------------------------------------------------------------------

def input_values(k, n):
    """The values continuum_inproc_bench uses: element i of input k."""
    return [((i * 7 + k * 3) % 13) * 0.25 - 1.5 for i in range(n)]


def _json_number(v):
    return repr(float(v)) if v != int(v) else str(int(v))


def _http(path, body, content_type, extra_headers=()):
    head = ["POST %s HTTP/1.1" % path, "Host: 127.0.0.1", "Content-Type: %s" % content_type,
            "Content-Length: %d" % len(body), *extra_headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def json_request(model, inputs):
    """inputs: list of (name, shape). FP32, flat "data" arrays, as a typical client sends them."""
    parts = []
    for k, (name, shape) in enumerate(inputs):
        n = 1
        for d in shape:
            n *= d
        data = ",".join(_json_number(v) for v in input_values(k, n))
        parts.append('{"name":"%s","shape":%s,"datatype":"FP32","data":[%s]}'
                     % (name, json.dumps(shape).replace(" ", ""), data))
    body = ('{"inputs":[%s]}' % ",".join(parts)).encode()
    return _http("/v2/models/%s/infer" % model, body, "application/json")


def binary_request(model, inputs, binary_output=True):
    """KServe v2 binary tensor data extension: JSON header + raw little-endian FP32 tensors."""
    header, blobs = [], []
    for k, (name, shape) in enumerate(inputs):
        n = 1
        for d in shape:
            n *= d
        blob = struct.pack("<%df" % n, *input_values(k, n))
        blobs.append(blob)
        header.append({"name": name, "shape": shape, "datatype": "FP32",
                       "parameters": {"binary_data_size": len(blob)}})
    h = json.dumps({"inputs": header, "parameters": {"binary_data_output": binary_output}},
                   separators=(",", ":")).encode()
    return _http("/v2/models/%s/infer" % model, h + b"".join(blobs), "application/octet-stream",
                 ["Inference-Header-Content-Length: %d" % len(h)])


def write_request(raw):
    path = os.path.join(tmpdir("continuum-bench-req-"), "request.http")
    with open(path, "wb") as f:
        f.write(raw)
    return path


def check_request(server, raw):
    """Sends the prebuilt request once over http.client; exits with the answer unless 200."""
    head, body = raw.split(b"\r\n\r\n", 1)
    lines = head.decode().split("\r\n")
    path = lines[0].split(" ")[1]
    headers = dict(l.split(": ", 1) for l in lines[1:])
    status, data, _ = server.request("POST", path, body, headers)
    if status != 200:
        sys.exit("bench: %s answered %d to the benchmark request: %s" % (server.what, status, data[:500]))
    return data


# --- running the tools ----------------------------------------------------------------------

def loadgen(build, port, request_file, connections, duration, warmup=1.0, threads=1, cpus=None):
    """Runs continuum_loadgen pinned to `cpus` (default: the client CPUs); returns its JSON."""
    argv = pinned(CLIENT_CPUS if cpus is None else cpus, [build.loadgen, "--port", str(port), "--request", request_file,
                                "-c", str(connections), "-t", str(threads), "-d", str(duration),
                                "--warmup", str(warmup), "--json"])
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit("bench: continuum_loadgen failed (%d): %s %s" % (r.returncode, r.stdout, r.stderr))
    return json.loads(r.stdout)


PERF_ANALYZER_TIMEOUT_S = float(os.environ.get("CONTINUUM_BENCH_PA_TIMEOUT_S", "60"))


def perf_analyzer(model, port, concurrency, window_ms, protocol="http", tensor_format="binary", shapes=()):
    """One perf_analyzer run, --async at `concurrency` (16 threads), batch-1 requests of zeros (its
    random FP32 values include NaN, which JSON cannot carry), three windows of `window_ms` with the
    stability check opened wide (measured, not repeated until they agree).
    Not pinned: confined to one vCPU of the 2-vCPU VM, perf_analyzer 2.48 at concurrency 64 against a
    server answering ~20k req/s never closes its window (its core at 100 %, its memory growing
    ~50 MB/s), so it gets every CPU, and a run longer than CONTINUUM_BENCH_PA_TIMEOUT_S (60) is
    killed and reported as an error.
    shapes: "INPUT:d1,d2" for each input whose dims the model leaves free (max_batch_size 0).
    Returns {rps, p50_us, p99_us}, or {error} when it exits non-zero (any failed request does)."""
    report = os.path.join(tmpdir("continuum-bench-pa-"), "report.csv")
    argv = [PERF_ANALYZER, "-m", model, "-i", protocol, "-u", "127.0.0.1:%d" % port, "--async", "--max-threads", "16",
            "--input-data", "zero", "--concurrency-range", str(concurrency),
            "--measurement-interval", str(window_ms), "--stability-percentage", "100000", "--max-trials", "3",
            "-f", report]
    if protocol == "http":
        argv += ["--input-tensor-format", tensor_format, "--output-tensor-format", tensor_format]
    for shape in shapes:
        argv += ["--shape", shape]
    try:
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=PERF_ANALYZER_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return {"error": "perf_analyzer did not finish within %.0f s" % PERF_ANALYZER_TIMEOUT_S}
    if r.returncode != 0 or not os.path.exists(report):
        last = [line for line in r.stdout.strip().splitlines() if line.strip()][-1:] or [""]
        return {"error": "perf_analyzer exited %d: %s" % (r.returncode, last[0][:200])}
    with open(report) as f:
        row = next(csv.DictReader(f))
    return {"rps": float(row["Inferences/Second"]), "p50_us": float(row["p50 latency"]),
            "p99_us": float(row["p99 latency"])}


def inproc(build, model, threads=None, duration=5.0, warmup=1.0, phase="both", intra_op_threads=1):
    argv = [build.inproc, "--model", build.model_file(model), "--intra-op-threads", str(intra_op_threads),
            "--duration", str(duration), "--warmup", str(warmup), "--phase", phase, "--json"]
    if threads:
        argv += ["--threads", str(threads)]
    r = subprocess.run(pinned(SERVER_CPUS, argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.exit("bench: continuum_inproc_bench failed (%d): %s" % (r.returncode, r.stderr))
    return json.loads(r.stdout)


def verdict(ok):
    return "SKIP" if ok is None else "PASS" if ok else "MISS"


def result_line(bench, target, ok, figures):
    """The one-line summary that bench/run_all.sh collects."""
    line = "RESULT %-15s %-4s %s -- %s" % (bench, verdict(ok), target, figures)
    print(line, flush=True)
    return line
