#!/usr/bin/python3
"""Operator conformance through the HTTP API.

Serves every test case of Debian's libonnx-testdata (ONNX's backend node tests and a few model
suites) with `continuum serve`, sends each test data set's inputs as a KServe v2 request using the
binary tensor data extension, and compares the outputs with the expected ones.

Run with Debian's /usr/bin/python3 (it has python3-onnx and numpy):
  /usr/bin/python3 tests/conformance/run_conformance.py --bin build/bin/continuum --work build/conformance

See README.md next to this file for the output format and the known-failures list.
"""
import argparse
import concurrent.futures
import glob
import http.client
import json
import locale
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_DATA = "/usr/share/libonnx-testdata/data"
DEFAULT_SUITES = "node,pytorch-converted,pytorch-operator,simple"

# ONNX element type -> (v2 datatype, numpy dtype of the wire bytes). BF16 travels as its raw
# 16-bit pattern. Types missing here (complex, ...) have no v2 datatype.
V2_TYPES = {
    TensorProto.BOOL: ("BOOL", np.bool_),
    TensorProto.UINT8: ("UINT8", np.uint8),
    TensorProto.UINT16: ("UINT16", np.uint16),
    TensorProto.UINT32: ("UINT32", np.uint32),
    TensorProto.UINT64: ("UINT64", np.uint64),
    TensorProto.INT8: ("INT8", np.int8),
    TensorProto.INT16: ("INT16", np.int16),
    TensorProto.INT32: ("INT32", np.int32),
    TensorProto.INT64: ("INT64", np.int64),
    TensorProto.FLOAT16: ("FP16", np.float16),
    TensorProto.BFLOAT16: ("BF16", np.uint16),
    TensorProto.FLOAT: ("FP32", np.float32),
    TensorProto.DOUBLE: ("FP64", np.float64),
    TensorProto.STRING: ("BYTES", object),
}
WIRE_DTYPE = {v2: dt for v2, dt in V2_TYPES.values()}
FLOAT_TYPES = {"FP16", "BF16", "FP32", "FP64"}
KIND_NAMES = {"sequence_type": "a sequence", "optional_type": "an optional", "map_type": "a map",
              "sparse_tensor_type": "a sparse tensor"}

# Tolerances of ONNX's own backend test runner (onnx/backend/test/runner).
RTOL, ATOL = 1e-3, 1e-7
# Per-case (rtol, atol) where the default is too strict for a correct float32 result.
TOLERANCE_OVERRIDES = {
    # DFT / STFT of real signals: elements whose exact value is 0 (imaginary parts) come out of a
    # float32 FFT as round-off residue of about eps(float32) x the largest output (~50..2000 here),
    # i.e. up to ~2.5e-4. 5e-4 is a few float32 ulps at the scale of these outputs.
    "test_dft": (RTOL, 5e-4),
    "test_dft_axis": (RTOL, 5e-4),
    "test_dft_inverse": (RTOL, 5e-4),
    "test_stft": (RTOL, 5e-4),
    "test_stft_with_window": (RTOL, 5e-4),
}
# Per-case expected outputs computed here instead of read from the test data, where ONNX 1.12's
# reference is not what the operator's specification (and ONNX Runtime) computes. Each function
# takes {input name: wire array} and returns {output name: wire array}; the outputs are then
# compared bit for bit (NaN equal to NaN).
def bf16_round_nearest_even(x):
    """float32 -> bfloat16 bit patterns, rounded to nearest even (the Cast specification from
    opset 13 on, and ONNX Runtime); NaN stays NaN."""
    f = np.ascontiguousarray(x, dtype=np.float32)
    u = f.view(np.uint32).astype(np.uint64)
    rounded = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)
    nan = np.isnan(f)
    rounded[nan] = ((u[nan] >> 16).astype(np.uint16) & 0x8000) | 0x7FC0
    return rounded


EXPECTED_OVERRIDES = {
    # ONNX 1.12's reference truncates float32 to bfloat16.
    "test_cast_FLOAT_to_BFLOAT16": lambda inputs: {"output": bf16_round_nearest_even(inputs["input"])},
}

# ONNX Runtime's StringNormalizer builds this locale; the cases using it need it on the machine.
LOCALE = "en_US.UTF-8"


class CaseError(Exception):
    """A test case failed; the message says why."""


class Unsupported(Exception):
    """The case cannot be expressed in the v2 protocol (non-tensor or un-mappable types)."""


# ------------------------------------------------------------------------------------------------
# Test cases

class Case:
    def __init__(self, name, directory):
        self.name = name
        self.dir = directory
        self.model_path = os.path.join(directory, "model.onnx")
        self.inputs = []   # [(name, elem_type)] of the inputs a request must feed
        self.outputs = []  # [(name, elem_type)] of the graph outputs
        self.datasets = sorted(glob.glob(os.path.join(directory, "test_data_set_*")),
                               key=lambda p: int(p.rsplit("_", 1)[1]))

    def inspect(self):
        """Reads the graph's signature; raises Unsupported when the v2 protocol cannot carry it."""
        model = onnx.load(self.model_path, load_external_data=False)
        g = model.graph
        initializers = {t.name for t in g.initializer}
        for label, values, target in (("input", [v for v in g.input if v.name not in initializers], self.inputs),
                                      ("output", g.output, self.outputs)):
            for v in values:
                kind = v.type.WhichOneof("value")
                if kind != "tensor_type":
                    what = KIND_NAMES.get(kind, "of no tensor type")
                    raise Unsupported("%s '%s' is %s, not a tensor" % (label, v.name, what))
                et = v.type.tensor_type.elem_type
                if et not in V2_TYPES:
                    raise Unsupported("%s '%s' has element type %s, which has no v2 datatype"
                                      % (label, v.name, TensorProto.DataType.Name(et)))
                target.append((v.name, et))


def load_tensor(path):
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return t, numpy_helper.to_array(t)


def to_wire(array, elem_type):
    """The array as the numpy type that carries `elem_type` on the wire."""
    v2, dt = V2_TYPES[elem_type]
    if v2 == "BF16":
        # onnx 1.12 stores BF16 test tensors as UINT16 bit patterns; a float tensor is cut to
        # its upper 16 bits (exact for values that came from bfloat16).
        if array.dtype == np.uint16:
            return array
        return (np.ascontiguousarray(array, dtype=np.float32).view(np.uint32) >> 16).astype(np.uint16)
    if v2 == "BYTES":
        return np.array([x if isinstance(x, bytes) else str(x).encode() for x in array.ravel()],
                        dtype=object).reshape(array.shape)
    if array.dtype != np.dtype(dt):
        raise CaseError("test data holds %s where the graph declares %s" % (array.dtype, v2))
    return array


def read_dataset(case, ds):
    """[(name, elem_type, wire array)] for the inputs and outputs of one test data set."""
    def files(prefix):
        paths = glob.glob(os.path.join(ds, prefix + "_*.pb"))
        return sorted(paths, key=lambda p: int(re.search(r"_(\d+)\.pb$", p).group(1)))

    result = []
    for prefix, signature in (("input", case.inputs), ("output", case.outputs)):
        names = {n: et for n, et in signature}
        tensors = []
        for k, path in enumerate(files(prefix)):
            proto, array = load_tensor(path)
            # Files are positional; the tensor's own name wins when it names a graph value.
            if proto.name in names:
                name = proto.name
            elif k < len(signature):
                name = signature[k][0]
            else:
                raise CaseError("%s has more %s files than the graph has %ss" % (os.path.basename(ds), prefix, prefix))
            tensors.append((name, names[name], to_wire(array, names[name])))
        result.append(tensors)
    return result


# ------------------------------------------------------------------------------------------------
# v2 binary tensor data

def encode_bytes(array):
    return b"".join(struct.pack("<I", len(x)) + x for x in array.ravel())


def decode_bytes(raw, count):
    out, pos = [], 0
    while pos < len(raw):
        if len(raw) - pos < 4:
            raise CaseError("BYTES output: truncated length prefix at byte %d" % pos)
        (n,) = struct.unpack_from("<I", raw, pos)
        pos += 4
        if n > len(raw) - pos:
            raise CaseError("BYTES output: element declares %d bytes, %d remain" % (n, len(raw) - pos))
        out.append(raw[pos:pos + n])
        pos += n
    if len(out) != count:
        raise CaseError("BYTES output: %d elements, the shape needs %d" % (len(out), count))
    return np.array(out + [None], dtype=object)[:-1]  # keeps every element a bytes object


def build_request(inputs, output_names):
    header_inputs, blobs = [], []
    for name, et, array in inputs:
        v2 = V2_TYPES[et][0]
        raw = encode_bytes(array) if v2 == "BYTES" else np.ascontiguousarray(array).tobytes()
        header_inputs.append({"name": name, "datatype": v2, "shape": list(array.shape),
                              "parameters": {"binary_data_size": len(raw)}})
        blobs.append(raw)
    header = json.dumps({"inputs": header_inputs,
                         "outputs": [{"name": n, "parameters": {"binary_data": True}} for n in output_names]}).encode()
    return header, header + b"".join(blobs)


def decode_response(body, json_length):
    if json_length is None:
        meta = json.loads(body)
        binary = b""
    else:
        meta = json.loads(body[:json_length])
        binary = body[json_length:]
    outputs, pos = {}, 0
    for o in meta.get("outputs", []):
        dt, shape = o["datatype"], o["shape"]
        size = o.get("parameters", {}).get("binary_data_size")
        if size is None:
            raise CaseError("output '%s' came back as JSON, not binary" % o["name"])
        raw = binary[pos:pos + size]
        if len(raw) != size:
            raise CaseError("output '%s': binary section too short" % o["name"])
        pos += size
        count = int(np.prod(shape, dtype=np.int64))
        if dt == "BYTES":
            arr = decode_bytes(raw, count)
        elif dt in WIRE_DTYPE:
            wire = np.dtype(WIRE_DTYPE[dt])
            if size != count * wire.itemsize:
                raise CaseError("output '%s': %d bytes for shape %s of %s" % (o["name"], size, shape, dt))
            arr = np.frombuffer(raw, dtype=wire)
        else:
            raise CaseError("output '%s': unknown datatype %r" % (o["name"], dt))
        outputs[o["name"]] = (dt, arr.reshape(shape))
    if pos != len(binary):
        raise CaseError("%d bytes left over after the outputs' binary data" % (len(binary) - pos))
    return outputs


def as_float(v2, array):
    if v2 == "BF16":
        return (array.astype(np.uint32) << 16).view(np.float32)
    return array.astype(np.float64 if v2 == "FP64" else np.float32)


def compare(name, et, expected, got, rtol, atol):
    v2 = V2_TYPES[et][0]
    got_v2, got_arr = got
    if got_v2 != v2:
        raise CaseError("output '%s': datatype %s, expected %s" % (name, got_v2, v2))
    if tuple(got_arr.shape) != tuple(expected.shape):
        raise CaseError("output '%s': shape %s, expected %s" % (name, list(got_arr.shape), list(expected.shape)))
    if v2 in FLOAT_TYPES:
        e, g = as_float(v2, expected), as_float(v2, got_arr)
        ok = np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        if not ok.all():
            bad = np.argwhere(~ok)
            i = tuple(bad[0])
            with np.errstate(invalid="ignore", over="ignore"):
                err = np.abs(g.astype(np.float64) - e.astype(np.float64))
            err[~np.isfinite(err)] = np.inf
            raise CaseError("output '%s': %d of %d elements differ (max abs error %.3g); first at %s: got %r, expected %r"
                            % (name, len(bad), e.size, float(np.max(np.where(ok, 0, err))), list(i),
                               g[i].item(), e[i].item()))
    else:
        if not np.array_equal(got_arr, expected):
            ne = got_arr != expected
            bad = np.argwhere(ne)
            i = tuple(bad[0])
            raise CaseError("output '%s': %d of %d elements differ; first at %s: got %r, expected %r"
                            % (name, len(bad), expected.size, list(i), got_arr[i], expected[i]))


# ------------------------------------------------------------------------------------------------
# The server

class Server:
    def __init__(self, binary, repository, mode, max_body, env=None):
        self.proc = subprocess.Popen(
            [binary, "serve", "--model-repository", repository, "--http-port", "0", "--http-address", "127.0.0.1", "--grpc-port", "-1",
             "--intra-op-threads", "1", "--model-control-mode", mode, "--max-body-bytes", str(max_body),
             "--http-thread-count", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        line = self.proc.stdout.readline()
        if "listening on port" not in line:
            self.proc.kill()
            raise RuntimeError("server did not start: %r %s" % (line, self.proc.stderr.read()))
        self.port = int(line.strip().rsplit(" ", 1)[1])
        self.log = []
        self.started = threading.Event()  # the repository finished its start-up loads
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()
        self._local = threading.local()

    def _read_stderr(self):
        for line in self.proc.stderr:
            if len(self.log) < 200000:
                self.log.append(line)
            if line.rstrip().endswith(" ready") or "started, but some models failed" in line:
                self.started.set()
        self.started.set()

    def conn(self):
        c = getattr(self._local, "conn", None)
        if c is None:
            c = self._local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        return c

    def request(self, method, path, body=None, headers=None):
        """Sends on this thread's keep-alive connection (reconnects once if the server closed it)."""
        for attempt in (0, 1):
            c = self.conn()
            try:
                c.request(method, path, body=body, headers=headers or {})
                r = c.getresponse()
                return r.status, r.read(), r
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                c.close()
                self._local.conn = None
                if attempt or self.proc.poll() is not None:
                    raise

    def post_json(self, path, obj=None):
        status, data, _ = self.request("POST", path, json.dumps(obj or {}), {"Content-Type": "application/json"})
        return status, json.loads(data) if data else None

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._drain.join(timeout=10)
        return self.proc.returncode


# ------------------------------------------------------------------------------------------------
# Running

def build_repository(root, cases):
    if os.path.isdir(root):
        shutil.rmtree(root)
    os.makedirs(root)
    config = json.dumps({"max_batch_size": 0, "warmup": False})
    for c in cases:
        d = os.path.join(root, c.name, "1")
        os.makedirs(d)
        os.symlink(c.model_path, os.path.join(d, "model.onnx"))
        with open(os.path.join(root, c.name, "config.json"), "w") as f:
            f.write(config)


def run_case(server, case, rtol, atol):
    """Raises CaseError on the first data set that fails."""
    if not case.datasets:
        raise CaseError("no test_data_set_* folder")
    output_names = [n for n, _ in case.outputs]
    override = EXPECTED_OVERRIDES.get(case.name)
    if override:
        rtol = atol = 0
    for ds in case.datasets:
        inputs, expected = read_dataset(case, ds)
        if override:
            computed = override({name: array for name, _, array in inputs})
            if sorted(computed) != sorted(name for name, _, _ in expected):
                raise CaseError("expected-output override names %s, the test data %s"
                                % (sorted(computed), sorted(name for name, _, _ in expected)))
            expected = [(name, et, computed[name].reshape(array.shape)) for name, et, array in expected]
        header, body = build_request(inputs, output_names)
        status, data, resp = server.request(
            "POST", "/v2/models/%s/infer" % case.name, body,
            {"Inference-Header-Content-Length": str(len(header)), "Content-Type": "application/octet-stream"})
        where = os.path.basename(ds)
        if status != 200:
            try:
                msg = json.loads(data)["error"]
            except Exception:
                msg = data[:300].decode("utf-8", "replace")
            raise CaseError("%s: HTTP %d: %s" % (where, status, msg))
        jl = resp.getheader("Inference-Header-Content-Length")
        try:
            got = decode_response(data, int(jl) if jl is not None else None)
            for name, et, exp in expected:
                if name not in got:
                    raise CaseError("output '%s' is missing from the response" % name)
                compare(name, et, exp, got[name], rtol, atol)
        except CaseError as e:
            raise CaseError("%s: %s" % (where, e)) from None


def locale_environment(work):
    """(environment for the server, None) when LOCALE is usable, else (None, why not).

    Uses the system's locale when it has one, else compiles a private copy with localedef (from
    Debian's `locales` package) and points the server at it with LOCPATH."""
    try:
        saved = locale.setlocale(locale.LC_CTYPE)
        locale.setlocale(locale.LC_CTYPE, LOCALE)
        locale.setlocale(locale.LC_CTYPE, saved)
        return dict(os.environ), None
    except locale.Error:
        pass
    root = os.path.join(work, "locale")
    target = os.path.join(root, LOCALE)
    if not os.path.exists(os.path.join(target, "LC_CTYPE")):
        os.makedirs(root, exist_ok=True)
        try:
            r = subprocess.run(["localedef", "-i", LOCALE.split(".")[0], "-f", "UTF-8", target],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
            if r.returncode != 0 or not os.path.exists(os.path.join(target, "LC_CTYPE")):
                return None, "localedef failed: " + short(r.stdout, 200)
        except (OSError, subprocess.TimeoutExpired) as e:
            return None, "localedef failed: %s" % e
    env = dict(os.environ)
    env["LOCPATH"] = root
    return env, None


class KnownFailure:
    def __init__(self, why, pattern):
        self.why = why
        self.pattern = pattern  # compiled regular expression the failure's message must match

    def __str__(self):
        return self.why


def read_known_failures(path):
    """{case name: KnownFailure}. Each line is `name ~ REGEX  # why`: the case is a known failure
    only while it fails with a message that REGEX matches (re.search)."""
    known = {}
    if not os.path.exists(path):
        return known
    group = ""
    with open(path) as f:
        for number, line in enumerate(f, 1):
            s = line.strip()
            if s.startswith("#"):
                if s.startswith("# =="):
                    group = s.strip("# =").strip()
                continue
            if not s:
                continue
            entry, _, comment = s.partition(" #")
            name, tilde, pattern = entry.partition("~")
            name, pattern = name.strip(), pattern.strip()
            if not tilde or not pattern:
                raise SystemExit("%s:%d: '%s' has no '~ REGEX' giving the failure's expected message"
                                 % (path, number, name))
            try:
                compiled = re.compile(pattern)
            except re.error as e:
                raise SystemExit("%s:%d: %s: bad regular expression: %s" % (path, number, name, e))
            if name in known:
                raise SystemExit("%s:%d: %s is listed twice" % (path, number, name))
            known[name] = KnownFailure(comment.strip() or group, compiled)
    return known


def short(msg, limit=400):
    msg = " ".join(str(msg).split())
    return msg if len(msg) <= limit else msg[:limit] + "..."


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--bin", required=True, help="the continuum binary")
    ap.add_argument("--work", required=True, help="scratch folder for the model repository")
    ap.add_argument("--data", default=DEFAULT_DATA, help="libonnx-testdata's data folder")
    ap.add_argument("--suites", default=DEFAULT_SUITES, help="comma-separated suites under --data")
    ap.add_argument("--known-failures", default=os.path.join(HERE, "known_failures.txt"))
    ap.add_argument("--filter", default=None, help="only cases whose name matches this regular expression")
    ap.add_argument("--jobs", type=int, default=3, help="requests in flight at once")
    ap.add_argument("--mode", choices=("none", "explicit"), default="explicit",
                    help="none: the server loads every model at start; explicit: load / unload per case")
    ap.add_argument("--verbose", action="store_true", help="also list passing and unsupported cases")
    args = ap.parse_args()
    t0 = time.time()
    binary = os.path.abspath(args.bin)
    work = os.path.abspath(args.work)

    cases = []
    for suite in args.suites.split(","):
        for m in sorted(glob.glob(os.path.join(args.data, suite, "*", "model.onnx"))):
            d = os.path.dirname(m)
            name = os.path.basename(d)
            if args.filter and not re.search(args.filter, name):
                continue
            cases.append(Case(name, d))
    if not cases:
        print("conformance: no test cases found under %s (is libonnx-testdata installed?)" % args.data)
        return 1
    if len({c.name for c in cases}) != len(cases):
        print("conformance: duplicate case names across suites")
        return 1

    unsupported, servable = {}, []
    for c in cases:
        try:
            c.inspect()
            servable.append(c)
        except Unsupported as e:
            unsupported[c.name] = str(e)
    known = read_known_failures(args.known_failures)

    repo = os.path.join(work, "models")
    build_repository(repo, servable)
    max_body = 64 << 20
    for c in servable:
        for ds in c.datasets:
            size = sum(os.path.getsize(p) for p in glob.glob(os.path.join(ds, "input_*.pb")))
            max_body = max(max_body, 4 * size + (1 << 20))

    env, no_locale = locale_environment(work)
    if no_locale:
        print("note: the %s locale is not available (%s); ONNX Runtime's StringNormalizer cannot load "
              "and those cases count as known failures. Install Debian's `locales` package to run them."
              % (LOCALE, no_locale))
    server = Server(binary, repo, args.mode, max_body, env)
    load_failed, failed, passed = {}, {}, []
    lock = threading.Lock()
    try:
        if args.mode == "none":
            server.started.wait(timeout=900)
            status, index = server.post_json("/v2/repository/index")
            if status != 200:
                raise RuntimeError("repository index: HTTP %d" % status)
            ready = {e["name"] for e in index if e.get("state") == "READY"}
            for e in index:
                if e.get("state") != "READY" and e["name"] not in ready:
                    load_failed[e["name"]] = e.get("reason", e.get("state"))
            t_loaded = time.time()

        def one(case):
            def fail(table, why):
                with lock:
                    table[case.name] = why

            if case.name in load_failed:
                return
            try:
                if args.mode == "explicit":
                    status, body = server.post_json("/v2/repository/models/%s/load" % case.name)
                    if status != 200:
                        return fail(load_failed, (body or {}).get("error", "HTTP %d" % status))
                try:
                    run_case(server, case, *TOLERANCE_OVERRIDES.get(case.name, (RTOL, ATOL)))
                    with lock:
                        passed.append(case.name)
                except CaseError as e:
                    fail(failed, str(e))
                if args.mode == "explicit":
                    status, body = server.post_json("/v2/repository/models/%s/unload" % case.name)
                    if status != 200 and case.name in passed:
                        fail(failed, "unload: HTTP %d %s" % (status, body))
                        passed.remove(case.name)
            except (OSError, http.client.HTTPException, ValueError) as e:
                with lock:
                    if case.name in passed:
                        passed.remove(case.name)
                    failed[case.name] = "connection: %r" % e

        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
            for f in [pool.submit(one, c) for c in servable]:
                f.result()
        crashed = not server.alive()
    finally:
        rc = server.stop()
    if crashed:
        print("conformance: the server died (exit status %s); last log lines:" % rc)
        sys.stdout.write("".join(server.log[-30:]))

    # Report.
    if no_locale:
        for n, why in load_failed.items():
            if "Failed to construct locale" in why and n not in known:
                known[n] = KnownFailure("needs the %s locale" % LOCALE, re.compile("Failed to construct locale"))
    names = [c.name for c in cases]
    unexpected = 0
    known_failed = known_load_failed = 0

    # Known failures first, so that what needs attention ends up next to the summary.
    later = []

    def line(kind, n, why):
        """Prints the failure; True when it is the known one (listed, and its message matches)."""
        why = why.replace(repo + os.sep, "")
        if n in known and known[n].pattern.search(why):
            print("KNOWN %s %s: %s [known: %s]" % (kind, n, short(why), known[n]))
            return True
        if n in known:
            later.append("%s %s: %s [listed in known_failures.txt, but the message does not match /%s/]"
                         % (kind, n, short(why), known[n].pattern.pattern))
        else:
            later.append("%s %s: %s" % (kind, n, short(why)))
        return False

    for n in names:
        if n in load_failed:
            if line("LOAD FAILED", n, load_failed[n]):
                known_load_failed += 1
            else:
                unexpected += 1
        elif n in failed:
            if line("FAILED", n, failed[n]):
                known_failed += 1
            else:
                unexpected += 1
        elif args.verbose and n in unsupported:
            print("UNSUPPORTED %s: %s" % (n, unsupported[n]))
        elif args.verbose and n in passed:
            print("PASSED %s" % n)
    for text in later:
        print(text)
    now_pass = [n for n in names if n in known and n in passed]
    listed_unsupported = [n for n in names if n in known and n in unsupported]
    missing = [] if args.filter else sorted(set(known) - set(names))
    for n in now_pass:
        print("UNEXPECTED PASS %s: listed in known_failures.txt (%s) but passes now; remove it" % (n, known[n]))
    for n in listed_unsupported:
        print("STALE %s: listed in known_failures.txt but unsupported by the v2 protocol; remove it" % n)
    for n in missing:
        print("note: known failure %s is not a case in %s" % (n, args.data))

    elapsed = time.time() - t0
    print("conformance: ran in %.1f s%s" % (elapsed, " (models loaded after %.1f s)" % (t_loaded - t0)
                                            if args.mode == "none" else ""))
    print("conformance: %d cases, %d passed, %d failed (%d known), %d unsupported by the v2 protocol, "
          "%d failed to load (%d known)"
          % (len(names), len(passed), len(failed), known_failed, len(unsupported), len(load_failed),
             known_load_failed))
    print("%d passed, %d failed" % (len(passed), unexpected))
    return 1 if unexpected or now_pass or listed_unsupported or crashed else 0


if __name__ == "__main__":
    sys.exit(main())
