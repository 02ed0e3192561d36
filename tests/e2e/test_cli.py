"""End-to-end: what the long-running commands (`serve`, `gateway`) refuse at start, before they
listen: flags out of range name the flag, exit 2, and nothing starts. And the listener over TLS
(--tls-cert/--tls-key): curl reaches it over HTTPS, SIGHUP reloads the certificate; `continuum run
--url https://...` against a node served over HTTPS: verified with --cacert, --cert/--key for mutual TLS."""
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import unittest

from harness import BIN, Server, make_repository
from test_gateway import PKI, TlsNode


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

    def test_tls_flags_are_checked_before_listening(self):
        cert, key = os.path.join(PKI, "server.pem"), os.path.join(PKI, "server.key")
        missing = os.path.join(self.tmp, "missing.pem")
        cases = [
            (["--tls-cert", cert], "--tls-cert needs --tls-key"),
            (["--tls-key", key], "--tls-key needs --tls-cert"),
            (["--tls-cert", missing, "--tls-key", key], "--tls-cert " + missing + ": cannot read"),
            (["--tls-cert", cert, "--tls-key", os.path.join(PKI, "server2.key")], "does not match the certificate"),
            (["--tls-cert", cert, "--tls-key", key, "--tls-client-auth", "sometimes"],
             "--tls-client-auth: 'sometimes' is not one of none, optional, require"),
            (["--tls-cert", cert, "--tls-key", key, "--tls-client-auth", "require"],
             "--tls-client-auth require needs --tls-client-ca"),
            (["--tls-cert", cert, "--tls-key", key, "--tls-handshake-timeout-ms", "0"],
             "--tls-handshake-timeout-ms: 0 is out of range"),
        ]
        for flags, message in cases:
            with self.subTest(flags=flags):
                r = self.start("serve", "--model-repository", self.repo, "--grpc-port", "-1", *flags)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(message, r.stderr)
                self.assertNotIn("listening", r.stdout)


def curl_https(port, path, *flags):
    """curl over HTTPS to localhost trusting the test CA: (exit code, body)."""
    r = subprocess.run(["curl", "-sS", "--max-time", "10", "--cacert", os.path.join(PKI, "ca.pem"), *flags,
                        "https://localhost:%d%s" % (port, path)], capture_output=True, text=True, timeout=30)
    return r.returncode, r.stdout


def served_fingerprint(port):
    """SHA-256 of the certificate the listener presents now."""
    ctx = ssl.create_default_context(cafile=os.path.join(PKI, "ca.pem"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            return hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()


def file_fingerprint(pem_path):
    with open(pem_path) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


class TlsListenerTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="continuum-tls-")
        self.repo = make_repository(["add_sub"])
        for name in ("server.pem", "server.key"):
            shutil.copy(os.path.join(PKI, name), os.path.join(self.tmp, name))

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)
        shutil.rmtree(self.repo, ignore_errors=True)

    def serve(self):
        return Server(self.repo, "--grpc-port", "-1", "--tls-cert", os.path.join(self.tmp, "server.pem"),
                      "--tls-key", os.path.join(self.tmp, "server.key"), "--tls-reload-interval-ms", "0",
                      wait_ready=False)

    def test_curl_reaches_serve_over_https_and_sighup_reloads_the_certificate(self):
        with self.serve() as s:
            s.wait(lambda: curl_https(s.port, "/v2/health/ready")[0] == 0, what="readiness over HTTPS")
            code, body = curl_https(s.port, "/v2/models/add_sub", "--tlsv1.2")
            self.assertEqual(code, 0)
            self.assertEqual(json.loads(body)["name"], "add_sub")
            # Plain HTTP on the TLS port gets no HTTP answer.
            self.assertFalse(s.raw(b"GET /v2/health/ready HTTP/1.1\r\nHost: x\r\n\r\n").startswith(b"HTTP/"))
            self.assertEqual(served_fingerprint(s.port), file_fingerprint(os.path.join(PKI, "server.pem")))

            for name in ("server.pem", "server.key"):
                shutil.copy(os.path.join(PKI, name.replace("server", "server2")), os.path.join(self.tmp, name))
            want = file_fingerprint(os.path.join(PKI, "server2.pem"))
            s.proc.send_signal(signal.SIGHUP)
            s.wait(lambda: served_fingerprint(s.port) == want, what="the new certificate after SIGHUP")
            self.assertEqual(curl_https(s.port, "/v2/health/ready")[0], 0)
            self.assertIsNone(s.proc.poll(), "SIGHUP must not stop the server")


class RunOverHttpsTest(unittest.TestCase):
    def setUp(self):
        self.repo = make_repository(["add_sub"])

    def tearDown(self):
        shutil.rmtree(self.repo, ignore_errors=True)

    def run_cli(self, url, *flags):
        # An entry no catalog holds: the node's task API answers it, which is enough to show the
        # exchange went through (--json prints the answer as it came).
        return subprocess.run([BIN, "run", "@cf/test/none", "--url", url, "--json", "--timeout-ms", "20000", *flags],
                              capture_output=True, text=True, timeout=60)

    def test_run_verifies_the_server_and_presents_a_client_certificate(self):
        node = TlsNode(self.repo, "server", "--tls-client-ca", os.path.join(PKI, "ca.pem"), client="client")
        self.addCleanup(node.stop)
        url = "https://127.0.0.1:%d" % node.port
        pem = lambda name: os.path.join(PKI, name + ".pem")
        key = lambda name: os.path.join(PKI, name + ".key")

        r = self.run_cli(url, "--cacert", pem("ca"), "--cert", pem("client"), "--key", key("client"))
        self.assertEqual(r.returncode, 0, r.stderr)
        answer = json.loads(r.stdout)
        self.assertFalse(answer["success"], answer)
        self.assertIn("errors", answer)

        # The server's certificate checked: another CA's bundle, or the system's, refuses it.
        for flags in (["--cacert", pem("other-ca")], []):
            r = self.run_cli(url, *flags, "--cert", pem("client"), "--key", key("client"))
            self.assertNotEqual(r.returncode, 0, r.stdout)
            # (The node sends the chain in its --tls-cert file, the leaf alone: never the client CA
            # its store holds for --tls-client-ca.)
            self.assertIn("cannot reach %s: TLS handshake with 127.0.0.1:%d failed: certificate verify failed: "
                          "unable to get local issuer certificate" % (url, node.port), r.stderr)
        # The server requires a client certificate.
        r = self.run_cli(url, "--cacert", pem("ca"))
        self.assertNotEqual(r.returncode, 0, r.stdout)
        self.assertIn("cannot reach " + url, r.stderr)
        # Bad flags: a key that is not the certificate's, TLS flags with an http:// url.
        r = self.run_cli(url, "--cacert", pem("ca"), "--cert", pem("client"), "--key", key("client-b"))
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("does not match the certificate", r.stderr)
        r = self.run_cli("http://127.0.0.1:%d" % node.port, "--cacert", pem("ca"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("--cacert, --cert and --key need an https:// --url", r.stderr)


if __name__ == "__main__":
    unittest.main()
