"""End-to-end: what the long-running commands (`serve`, `gateway`) refuse at start, before they
listen: flags out of range name the flag, exit 2, and nothing starts."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, make_repository


class StartupFlagsTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="continuum-cli-")
        self.repo = make_repository(["add_sub"])
        self.filters = os.path.join(self.tmp, "filters.json")
        with open(self.filters, "w") as f:
            json.dump({"schema_version": 1, "filters": [
                {"name": "auth", "settings": {"database": os.path.join(self.tmp, "keys.db")}}]}, f)
        self.topology = os.path.join(self.tmp, "topology.json")
        with open(self.topology, "w") as f:
            json.dump({"schema_version": 1, "nodes": [
                {"name": "cloud", "url": "http://127.0.0.1:1", "tier": "cloud", "jurisdiction": ["eu"],
                 "models": [{"name": "add_sub", "versions": [1]}]}]}, f)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.repo, ignore_errors=True)

    def start(self, *args):
        # A command that wrongly starts runs until it is stopped: the timeout fails the test.
        return subprocess.run([BIN, *args, "--http-port", "0", "--http-address", "127.0.0.1"],
                              capture_output=True, text=True, timeout=60)

    def test_admin_port_out_of_range_is_refused(self):
        # 70000 would have been cast to 4464 and listened on.
        for command in (["serve", "--model-repository", self.repo, "--grpc-port", "-1"],
                        ["gateway", "--topology", self.topology]):
            with self.subTest(command=command[0]):
                r = self.start(*command, "--filters", self.filters, "--admin-port", "70000")
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("--admin-port: 70000 is out of range [0, 65535]", r.stderr)
                self.assertNotIn("listening", r.stdout)

    def test_listener_flag_out_of_range_is_refused(self):
        for command in (["serve", "--model-repository", self.repo], ["gateway", "--topology", self.topology]):
            with self.subTest(command=command[0]):
                r = self.start(*command, "--max-connections", "0")
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn("--max-connections: 0 is out of range", r.stderr)


if __name__ == "__main__":
    unittest.main()
