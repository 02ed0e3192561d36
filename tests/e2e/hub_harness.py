"""Helpers for end-to-end tests of `continuum hub` seen from outside (its dashboard, Prometheus): a
hub process on loopback (fleet.py's) with a fresh signing key and SQLite store, and calls that
stand in for nodes reporting to its agent API (fleet/README.md: the report).

The stand-ins speak the agent's protocol only as far as the hub's views need it (registration,
models and their readiness, request counters); the real agent has its own tests.
"""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time

import fleet
from harness import BIN


def free_port():
    """A TCP port free on 127.0.0.1 now (for a process that must know its own address up front)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def now_ms():
    return int(time.time() * 1000)


class Hub(fleet.Hub):
    """fleet.Hub (`continuum hub`, --tick-ms 100) with a key from `continuum generate-key-pair`
    (empty password) and a SQLite store in a fresh temporary folder, on a port chosen up front so
    that it can advertise its own URL (--advertise-url: it lists itself in /api/v1/sd). `flags`
    are added to the command line."""

    def __init__(self, *flags):
        folder = tempfile.mkdtemp(prefix="continuum-hub-")
        r = subprocess.run([BIN, "generate-key-pair", "--output-key-prefix", "hub"], cwd=folder,
                           env=dict(os.environ, COSIGN_PASSWORD=""), capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise RuntimeError("generate-key-pair failed: " + r.stderr)
        port = free_port()
        super().__init__(folder, os.path.join(folder, "hub.key"), "--advertise-url", "http://127.0.0.1:%d" % port,
                         *flags, port=port)
        self.wait(lambda: self.get("/health")[0] == 200, what="the hub's /health")

    def stop(self):
        code = super().stop()
        shutil.rmtree(self.folder, True)
        return code

    def call(self, method, path, body=None):
        """(status, parsed JSON answer or None)."""
        status, data, _ = self.request(method, path, body, {"Content-Type": "application/json"} if body else None)
        return status, json.loads(data) if data else None

    def report(self, node, address="", properties=None, models=(), sequence=0, state="ok", message=""):
        """One report of `node` (POST /api/v1/nodes/{node}/report); returns the hub's answer.
        properties: {name: value} (types inferred); models: dicts as in the report."""
        body = {"schema_version": 1, "address": address,
                "properties": [{"name": k, "value": v} for k, v in (properties or {}).items()],
                "sequence": sequence, "state": state, "message": message, "models": list(models)}
        status, answer = self.call("POST", "/api/v1/nodes/%s/report" % node, body)
        if status != 200:
            raise AssertionError("report of %s refused: %d %s" % (node, status, answer))
        return answer

    def deploy(self, name, spec):
        status, answer = self.call("PUT", "/api/v1/deployments/" + name, spec)
        if status != 200:
            raise AssertionError("deployment %s refused: %d %s" % (name, status, answer))
        return answer

    def targets(self, node):
        """The targets of the desired state the hub issued `node` last, and its sequence (none
        for a node that never reported)."""
        status, n = self.get("/api/v1/nodes/" + node)
        if status == 404:
            return [], 0
        if status != 200:
            raise AssertionError("GET node %s: %d %s" % (node, status, n))
        return n["desired"]["targets"], n["desired"]["sequence"]


def model_report(name, digest, ready=True, error="", since_ms=0, success=0, failure=0, buckets=None):
    """One entry of a report's "models" (cumulative counters; buckets: [[bound, count], ...,
    ["+Inf", count]])."""
    return {"name": name, "digest": digest, "versions": [1], "ready": ready, "error": error, "since_ms": since_ms,
            "success": success, "failure": failure, "duration_buckets": buckets or []}
