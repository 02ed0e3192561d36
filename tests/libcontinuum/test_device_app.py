"""End-to-end: install libcontinuum into a temporary prefix, build a C device application against it
with pkg-config, and run it against a topology of its own in-process device node and a real
`continuum serve` cloud node.

Environment (set by ctest): CMAKE_COMMAND, CONTINUUM_BUILD_DIR, CONTINUUM_BIN, CONTINUUM_TEST_MODELS;
CC (default cc); DEVICE_APP_FLAGS (extra compiler flags, e.g. the sanitizers).
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
from harness import Server, make_repository  # noqa: E402

BUILD = os.environ.get("CONTINUUM_BUILD_DIR", os.path.join(HERE, "../../build"))
CMAKE = os.environ.get("CMAKE_COMMAND", "cmake")
CC = os.environ.get("CC", "cc")
# Extra compiler flags for the app: a sanitized build's library needs the sanitizer runtime linked in.
APP_FLAGS = os.environ.get("DEVICE_APP_FLAGS", "").split()


def successes(node):
    status, data, _ = node.request("GET", "/metrics")
    assert status == 200
    m = re.search(r'^continuum_inference_request_success_total\{model="add_sub",version="1"\} (\S+)$',
                  data.decode(), re.M)
    return float(m.group(1)) if m else 0.0


class DeviceAppTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="continuum-lib-")
        prefix = os.path.join(cls.tmp, "prefix")
        subprocess.run([CMAKE, "--install", BUILD, "--prefix", prefix, "--component", "libcontinuum"],
                       check=True, stdout=subprocess.PIPE)
        pcs = glob.glob(os.path.join(prefix, "**", "pkgconfig", "continuum.pc"), recursive=True)
        assert len(pcs) == 1, pcs
        env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pcs[0]))
        pkg = subprocess.run(["pkg-config", "--cflags", "--libs", "continuum"], env=env, check=True,
                             stdout=subprocess.PIPE, text=True).stdout.split()
        cls.libdir = subprocess.run(["pkg-config", "--variable=libdir", "continuum"], env=env, check=True,
                                    stdout=subprocess.PIPE, text=True).stdout.strip()
        cls.version = subprocess.run(["pkg-config", "--modversion", "continuum"], env=env, check=True,
                                     stdout=subprocess.PIPE, text=True).stdout.strip()
        cls.app = os.path.join(cls.tmp, "device_app")
        subprocess.run([CC, "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic", os.path.join(HERE, "device_app.c"),
                        "-o", cls.app, *APP_FLAGS, *pkg, "-Wl,-rpath," + cls.libdir], check=True)
        # The installed tree alone: the build tree's ONNX Runtime must not be what is found.
        cls.installed_lib = os.path.realpath(os.path.join(cls.libdir, "libcontinuum.so"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_installed_library(self):
        self.assertTrue(re.match(r"^\d+\.\d+\.\d+$", self.version), self.version)
        self.assertTrue(os.path.exists(os.path.join(self.libdir, "libonnxruntime.so.1")))
        headers = glob.glob(os.path.join(self.tmp, "prefix", "include", "continuum", "*"))
        self.assertEqual(sorted(os.path.basename(h) for h in headers), ["continuum.h", "continuum.hpp"])
        # Only the C API is exported.
        nm = subprocess.run(["nm", "-D", "--defined-only", self.installed_lib], check=True,
                            stdout=subprocess.PIPE, text=True).stdout
        symbols = [line.split()[-1] for line in nm.splitlines() if line.strip()]
        self.assertTrue(symbols)
        self.assertEqual([s for s in symbols if not s.startswith("continuum_")], [])
        self.assertIn("continuum_request", symbols)
        # The installed library finds ONNX Runtime beside it.
        ldd = subprocess.run(["ldd", self.app], check=True, stdout=subprocess.PIPE, text=True).stdout
        ort = [line for line in ldd.splitlines() if "libonnxruntime.so.1" in line]
        self.assertEqual(len(ort), 1, ldd)
        self.assertIn(os.path.realpath(self.libdir), os.path.realpath(ort[0].split("=>")[1].split()[0]))

    def test_device_app(self):
        repo = make_repository(["add_sub"])
        with Server(repo) as cloud:
            topology = {
                "schema_version": 1,
                "residency_classes": ["eu", "eu-de", "us"],
                "nodes": [
                    {"name": "phone", "url": "local://", "tier": "device", "jurisdiction": ["eu"],
                     "models": [{"name": "add_sub", "versions": [1]}]},
                    {"name": "cloud-us", "url": "http://127.0.0.1:%d" % cloud.port, "tier": "cloud",
                     "jurisdiction": ["us"], "models": [{"name": "add_sub", "versions": [1]}]},
                    {"name": "edge-de", "url": "http://127.0.0.1:1", "tier": "edge",
                     "jurisdiction": ["eu", "eu-de"], "models": [{"name": "add_sub", "versions": [1]}]},
                ],
                "links": [{"from": "gateway", "to": "phone", "rtt_ms": 0, "bandwidth_mbps": 100000},
                          {"from": "gateway", "to": "cloud-us", "rtt_ms": 40, "bandwidth_mbps": 100},
                          {"from": "gateway", "to": "edge-de", "rtt_ms": 20, "bandwidth_mbps": 100}],
            }
            path = os.path.join(self.tmp, "topology.json")
            with open(path, "w") as f:
                json.dump(topology, f)
            before = successes(cloud)
            p = subprocess.run([self.app, path, repo], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=120)
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr[-3000:])
            self.assertIn("PASSED", p.stdout)
            self.assertEqual(p.stdout.count("ok: "), 7, p.stdout)
            # Exactly the two offloaded requests reached the cloud node; nothing failed closed there.
            self.assertEqual(successes(cloud), before + 2)


if __name__ == "__main__":
    unittest.main()
