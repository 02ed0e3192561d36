"""End-to-end: TLS on `continuum serve` and `continuum gateway`, with real peers: Debian's
`openssl s_client` and `curl`, and Python's ssl module.

Protocols and suites (TLS 1.2 and 1.3 only; TLS 1.2 suites ECDHE with AEAD only), the client's
view of bad server certificates, client certificates (--tls-client-ca, --tls-client-auth),
certificate rotation under load (SIGHUP and the file-change check) without a failed request, the
handshake timeout against a slowloris with max connections still bounded, and the gateway's admin
listener and its https nodes; the gateway's client side against Debian's nginx as the TLS server
(mutual TLS, a reconnect resuming the session, a CA that did not sign nginx's certificate refused).

Certificates come from the test PKI (CONTINUUM_TEST_PKI, src/tls/test_pki.h); the few this test
needs beyond it (an expired client certificate, an RSA server certificate) are signed by the same
CA here, with python3-cryptography.
"""
import datetime
import hashlib
import http.client
import ipaddress
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from harness import BIN, Server, infer_body, make_repository, metric, pki, tls_context

ADD_SUB = infer_body([("INPUT0", "FP32", [1, 16], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])
INFER = "/v2/models/add_sub/infer"
# The test's failure deadline for anything it waits on (never a timing goal).
DEADLINE_S = 30


def tls_flags(cert="server", client_ca=None, *extra):
    flags = ["--tls-cert", pki(cert + ".pem"), "--tls-key", pki(cert + ".key")]
    if client_ca:
        flags += ["--tls-client-ca", pki(client_ca)]
    return flags + list(extra)


def unverified_context():
    """A client context that takes any certificate: for waiting on servers with bad ones."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def der_sha256(pem_path):
    with open(pem_path) as f:
        return hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()


def s_client(port, *args):
    """One handshake by `openssl s_client` (verifying against the test CA); (accepted, output)."""
    r = subprocess.run(["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername", "localhost",
                        "-brief", "-CAfile", pki("ca.pem"), "-verify_return_error", *args],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=DEADLINE_S)
    out = r.stdout + r.stderr
    return r.returncode == 0 and "CONNECTION ESTABLISHED" in out, out


def curl(port, *args, path="/v2/health/ready"):
    """`curl https://localhost:PORT/...`; (exit code, HTTP status or 0, stderr)."""
    r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", str(DEADLINE_S),
                        *args, "https://localhost:%d%s" % (port, path)],
                       capture_output=True, text=True, timeout=DEADLINE_S + 5)
    return r.returncode, int(r.stdout or "0"), r.stderr


def https_status(port, ctx, path="/v2/health/ready"):
    """The status of one GET over a new TLS connection, or the exception that ended it."""
    c = http.client.HTTPSConnection("127.0.0.1", port, timeout=DEADLINE_S, context=ctx)
    try:
        c.request("GET", path)
        r = c.getresponse()
        r.read()
        return r.status
    except (OSError, http.client.HTTPException) as e:  # ssl.SSLError is an OSError
        return e
    finally:
        c.close()


class Pki:
    """Certificates beyond the standard test PKI, signed by its CA (ca.pem / ca.key)."""

    def __init__(self, dir):
        self.dir = dir
        with open(pki("ca.pem"), "rb") as f:
            self.ca = x509.load_pem_x509_certificate(f.read())
        with open(pki("ca.key"), "rb") as f:
            self.ca_key = serialization.load_pem_private_key(f.read(), password=None)

    def leaf(self, name, key, common_name, not_before, not_after, server):
        names = [x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                 x509.NameAttribute(NameOID.ORGANIZATION_NAME, "continuum-tests")]
        b = (x509.CertificateBuilder().subject_name(x509.Name(names)).issuer_name(self.ca.subject)
             .public_key(key.public_key()).serial_number(x509.random_serial_number())
             .not_valid_before(not_before).not_valid_after(not_after)
             .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
             .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server
                                                   else ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False))
        if server:
            b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                             x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                critical=False)
        cert = b.sign(self.ca_key, hashes.SHA256())
        base = os.path.join(self.dir, name)
        with open(base + ".pem", "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        with open(base + ".key", "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        os.chmod(base + ".key", 0o600)
        return base

    def expired_client(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        return self.leaf("expired-client", ec.generate_private_key(ec.SECP256R1()), "tenant-expired",
                         now - datetime.timedelta(days=2), now - datetime.timedelta(days=1), server=False)

    def rsa_server(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        return self.leaf("rsa-server", rsa.generate_private_key(public_exponent=65537, key_size=2048), "localhost",
                         now - datetime.timedelta(hours=1), now + datetime.timedelta(days=1), server=True)


class TlsTestCase(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="continuum-tls-")
        cls.empty = make_repository([])

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        shutil.rmtree(cls.empty, ignore_errors=True)

    def serve(self, *flags, repository=None, ctx=None):
        s = Server(repository or self.empty, *flags, ssl_context=ctx or tls_context())
        self.addCleanup(s.stop)
        return s

    def assertRefused(self, outcome, what):
        self.assertNotIsInstance(outcome, int, "%s was answered %r" % (what, outcome))


class ProtocolsTest(TlsTestCase):
    """What a server with only --tls-cert/--tls-key negotiates."""

    def test_tls10_and_tls11_refused_tls12_and_tls13_accepted(self):
        s = self.serve(*tls_flags())
        for proto in ("-tls1", "-tls1_1"):
            # OpenSSL 3's client only offers them at security level 0.
            ok, out = s_client(s.port, proto, "-cipher", "DEFAULT@SECLEVEL=0")
            self.assertFalse(ok, "%s was accepted:\n%s" % (proto, out))
        for proto, name in (("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")):
            ok, out = s_client(s.port, proto)
            self.assertTrue(ok, "%s was refused:\n%s" % (proto, out))
            self.assertIn("Protocol version: " + name, out)

    def test_alpn_http11_and_a_request_over_each_version(self):
        s = self.serve(*tls_flags())
        for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            ctx = tls_context()
            ctx.minimum_version = ctx.maximum_version = version
            ctx.set_alpn_protocols(["h2", "http/1.1"])
            with socket.create_connection(("127.0.0.1", s.port), timeout=DEADLINE_S) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as t:
                    self.assertEqual(t.version(), version.name.replace("_", "."))
                    self.assertEqual(t.selected_alpn_protocol(), "http/1.1")
                    t.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                    answer = b""
                    while True:
                        chunk = t.recv(65536)
                        if not chunk:
                            break
                        answer += chunk
            self.assertTrue(answer.startswith(b"HTTP/1.1 200"), answer[:200])

    def test_tls12_suites_ecdhe_with_aead_only(self):
        s = self.serve(*tls_flags())
        for suite in ("ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
                      "ECDHE-ECDSA-CHACHA20-POLY1305"):
            ok, out = s_client(s.port, "-tls1_2", "-cipher", suite)
            self.assertTrue(ok, "%s was refused:\n%s" % (suite, out))
            self.assertIn("Ciphersuite: " + suite, out)
        weak = ("ECDHE-ECDSA-AES128-SHA",  # CBC, SHA-1 MAC
                "ECDHE-ECDSA-AES256-SHA384",  # CBC
                "ECDHE-ECDSA-NULL-SHA:@SECLEVEL=0",  # no encryption
                "AECDH-AES128-SHA:@SECLEVEL=0")  # aNULL: no authentication
        for suite in weak:
            ok, out = s_client(s.port, "-tls1_2", "-cipher", suite)
            self.assertFalse(ok, "%s was accepted:\n%s" % (suite, out))

    def test_rsa_key_exchange_refused_with_an_rsa_certificate(self):
        # With an EC key no RSA key exchange is possible at all; an RSA certificate makes the
        # refusal the server's policy.
        base = Pki(self.tmp).rsa_server()
        s = self.serve("--tls-cert", base + ".pem", "--tls-key", base + ".key")
        ok, out = s_client(s.port, "-tls1_2", "-cipher", "ECDHE-RSA-AES128-GCM-SHA256")
        self.assertTrue(ok, out)
        for suite in ("AES128-GCM-SHA256", "AES256-SHA", "ECDHE-RSA-AES128-SHA"):
            ok, out = s_client(s.port, "-tls1_2", "-cipher", suite)
            self.assertFalse(ok, "%s was accepted:\n%s" % (suite, out))

    def test_plain_http_on_the_tls_port_is_not_served(self):
        s = self.serve(*tls_flags())
        with socket.create_connection(("127.0.0.1", s.port), timeout=DEADLINE_S) as c:
            c.sendall(b"GET /v2/health/ready HTTP/1.1\r\nHost: localhost\r\n\r\n")
            answer = b""
            try:
                while True:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    answer += chunk
            except ConnectionResetError:
                pass
        self.assertNotIn(b" 200 ", answer[:20])

    def test_bad_tls_flags_are_refused_at_start(self):
        missing = os.path.join(self.tmp, "missing.pem")
        cases = {
            "cert without key": ["--tls-cert", pki("server.pem")],
            "key without cert": ["--tls-key", pki("server.key")],
            "missing file": ["--tls-cert", missing, "--tls-key", pki("server.key")],
            "key of another certificate": ["--tls-cert", pki("server.pem"), "--tls-key", pki("server2.key")],
            "unknown client auth": tls_flags("server", "ca.pem", "--tls-client-auth", "sometimes"),
            "client auth without a CA": tls_flags() + ["--tls-client-auth", "require"],
            "handshake timeout 0": tls_flags() + ["--tls-handshake-timeout-ms", "0"],
        }
        for what, flags in cases.items():
            with self.subTest(what):
                r = subprocess.run([BIN, "serve", "--model-repository", self.empty, "--http-port", "0",
                                    "--http-address", "127.0.0.1", "--grpc-port", "-1", *flags],
                                   capture_output=True, text=True, timeout=DEADLINE_S)
                self.assertNotEqual(r.returncode, 0, "started: %s" % r.stdout)
                self.assertNotIn("listening on port", r.stdout)
                self.assertIn("tls", r.stderr.lower())


class MetricsTest(TlsTestCase):
    """The TLS metrics on /metrics, scraped over HTTPS."""

    def test_handshakes_expiry_and_reloads(self):
        s = self.serve(*tls_flags())
        public = {"listener": "public"}
        ok_before = metric(s, "continuum_tls_handshakes_total", result="ok", **public)
        self.assertGreaterEqual(ok_before, 1)  # the readiness checks and this scrape
        self.assertEqual(metric(s, "continuum_tls_handshakes_total", result="failed", **public), 0)
        accepted, out = s_client(s.port, "-tls1_1")  # refused: TLS 1.1
        self.assertFalse(accepted, out)
        s.wait(lambda: metric(s, "continuum_tls_handshakes_total", result="failed", **public) == 1,
               what="the refused handshake counted")
        self.assertGreater(metric(s, "continuum_tls_handshakes_total", result="ok", **public), ok_before)

        with open(pki("server.pem"), "rb") as f:
            not_after = x509.load_pem_x509_certificate(f.read()).not_valid_after
        expiry = int(not_after.replace(tzinfo=datetime.timezone.utc).timestamp())
        self.assertEqual(metric(s, "continuum_tls_certificate_expiry_timestamp_seconds", **public), expiry)

        self.assertEqual(metric(s, "continuum_tls_reloads_total", result="ok"), 0)
        s.proc.send_signal(signal.SIGHUP)
        s.wait(lambda: metric(s, "continuum_tls_reloads_total", result="ok") == 1, what="the reload counted")
        self.assertEqual(metric(s, "continuum_tls_reloads_total", result="failed"), 0)


class ServerCertificateTest(TlsTestCase):
    """curl verifying the server's certificate against the test CA."""

    def test_bad_server_certificates_refused_by_curl(self):
        cases = (("expired", "certificate has expired"),
                 ("not-yet-valid", "certificate is not yet valid"),
                 ("self-signed", "self-signed certificate"),
                 ("wrong-host", "no alternative certificate subject name matches target host name 'localhost'"),
                 ("other-ca-server", "unable to get local issuer certificate"))
        for cert, message in cases:
            with self.subTest(cert):
                s = self.serve(*tls_flags(cert), ctx=unverified_context())
                rc, status, err = curl(s.port, "--cacert", pki("ca.pem"))
                self.assertEqual((rc, status), (60, 0), err)
                self.assertIn(message, err)
                s.stop()

    def test_right_ca_accepted_leaf_and_chain(self):
        for cert in ("server.pem", "server-chain.pem"):
            with self.subTest(cert):
                s = self.serve("--tls-cert", pki(cert), "--tls-key", pki("server.key"))
                self.assertEqual(curl(s.port, "--cacert", pki("ca.pem"))[:2], (0, 200))
                # The system trust store does not know the test CA.
                self.assertEqual(curl(s.port)[0], 60)
                s.stop()


class ClientCertificateTest(TlsTestCase):
    """--tls-client-ca: client certificates verified against the bundle."""

    def test_require(self):
        s = self.serve(*tls_flags("server", "ca.pem"), ctx=tls_context(cert="client"))
        expired = Pki(self.tmp).expired_client()
        for cert in ("client", "client-b"):
            self.assertEqual(curl(s.port, "--cacert", pki("ca.pem"), "--cert", pki(cert + ".pem"),
                                  "--key", pki(cert + ".key"))[:2], (0, 200), cert)
            self.assertEqual(https_status(s.port, tls_context(cert=cert)), 200)
        refused = {"no certificate": None, "another CA's client": pki("other-ca-client"), "expired": expired,
                   "a server certificate (no clientAuth)": pki("server")}
        for what, base in refused.items():
            with self.subTest(what):
                args = ["--cacert", pki("ca.pem")]
                ctx = tls_context()
                if base:
                    args += ["--cert", base + ".pem", "--key", base + ".key"]
                    ctx.load_cert_chain(base + ".pem", base + ".key")
                rc, status, err = curl(s.port, *args)
                self.assertEqual(status, 0, "curl was answered %d" % status)
                self.assertNotEqual(rc, 0)
                self.assertRefused(https_status(s.port, ctx), what)
        # Still serving the good ones afterwards.
        self.assertEqual(https_status(s.port, tls_context(cert="client")), 200)

    def test_optional_accepts_with_and_without_a_certificate(self):
        s = self.serve(*tls_flags("server", "ca.pem", "--tls-client-auth", "optional"))
        self.assertEqual(curl(s.port, "--cacert", pki("ca.pem"))[:2], (0, 200))
        self.assertEqual(curl(s.port, "--cacert", pki("ca.pem"), "--cert", pki("client.pem"),
                              "--key", pki("client.key"))[:2], (0, 200))
        self.assertEqual(https_status(s.port, tls_context()), 200)
        self.assertEqual(https_status(s.port, tls_context(cert="client")), 200)


class Load:
    """Threads sending add_sub requests until stopped: half on a new connection each time (recording
    the certificate each saw), half on one keep-alive connection. Every outcome is counted."""

    def __init__(self, port, threads=4):
        self.port = port
        self.ctx = tls_context()
        self.lock = threading.Lock()
        self.ok = [0] * threads
        self.failures = []
        self.seen = set()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(i, i % 2 == 1), daemon=True) for i in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, i, keep_alive):
        conn = None
        body = json.dumps(ADD_SUB)
        while not self.stopping.is_set():
            try:
                if conn is None:
                    conn = http.client.HTTPSConnection("127.0.0.1", self.port, timeout=DEADLINE_S, context=self.ctx)
                    conn.connect()
                    fingerprint = hashlib.sha256(conn.sock.getpeercert(binary_form=True)).hexdigest()
                    with self.lock:
                        self.seen.add(fingerprint)
                conn.request("POST", INFER, body=body, headers={"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
                if r.status != 200 or json.loads(data)["outputs"][0]["data"] != [3.0] * 16:
                    raise AssertionError("answered %d: %r" % (r.status, data[:200]))
                with self.lock:
                    self.ok[i] += 1
            except Exception as e:  # every failure is the test's business
                with self.lock:
                    self.failures.append("thread %d (%s): %r" % (i, "keep-alive" if keep_alive else "new", e))
                if conn is not None:
                    conn.close()
                conn = None
                continue
            if not keep_alive:
                conn.close()
                conn = None
        if conn is not None:
            conn.close()

    def counts(self):
        with self.lock:
            return list(self.ok)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(DEADLINE_S)


class RotationTest(TlsTestCase):
    """The certificate files replaced while requests run: not one request may fail."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="continuum-tls-rotation-", dir=self.tmp)
        self.cert, self.key = os.path.join(self.dir, "cert.pem"), os.path.join(self.dir, "key.pem")
        self.install("server")
        self.repo = make_repository(["add_sub"])
        self.addCleanup(shutil.rmtree, self.repo, True)

    def install(self, name):
        """Replaces key and certificate, each atomically (a rename); the pair is briefly mismatched."""
        for src, dst in ((pki(name + ".key"), self.key), (pki(name + ".pem"), self.cert)):
            tmp = dst + ".new"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)

    def fingerprint(self, port):
        with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S) as raw:
            with tls_context().wrap_socket(raw, server_hostname="localhost") as t:
                return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()

    def rotate_under_load(self, reload_interval_ms, signal_it):
        s = self.serve("--tls-cert", self.cert, "--tls-key", self.key, "--tls-reload-interval-ms",
                       str(reload_interval_ms), repository=self.repo)
        old, new = der_sha256(pki("server.pem")), der_sha256(pki("server2.pem"))
        self.assertEqual(self.fingerprint(s.port), old)
        load = Load(s.port)
        self.addCleanup(load.stop)
        s.wait(lambda: min(load.counts()) >= 20 or load.failures, what="the load to run")
        self.install("server2")
        if signal_it:
            s.proc.send_signal(signal.SIGHUP)
        s.wait(lambda: self.fingerprint(s.port) == new, timeout=DEADLINE_S, what="the new certificate")
        # Every thread keeps going past the switch: the keep-alive ones on their old connections.
        after = load.counts()
        s.wait(lambda: all(n >= a + 20 for n, a in zip(load.counts(), after)) or load.failures,
               what="requests after the rotation")
        load.stop()
        self.assertEqual(load.failures, [])
        self.assertEqual(load.seen, {old, new})
        self.assertIsNone(s.proc.poll(), "the server exited")
        return s

    def test_sighup_reloads_under_load(self):
        # The file check is off: only the signal can have reloaded.
        self.rotate_under_load(0, signal_it=True)

    def test_changed_files_reload_under_load(self):
        self.rotate_under_load(100, signal_it=False)

    def test_broken_files_keep_the_current_certificate(self):
        s = self.serve("--tls-cert", self.cert, "--tls-key", self.key, "--tls-reload-interval-ms", "0")
        with open(self.cert, "w") as f:
            f.write("not a certificate\n")
        s.proc.send_signal(signal.SIGHUP)
        # The failed reload is reported, naming the file; the server keeps its certificate and serves.
        s.wait(lambda: any("reload failed" in line and self.cert in line for line in s.stderr_lines),
               what="the reload error")
        self.assertEqual(self.fingerprint(s.port), der_sha256(pki("server.pem")))
        self.assertEqual(https_status(s.port, tls_context()), 200)


def stalled_handshake(port, partial):
    """A TCP connection that starts a TLS handshake and stops: nothing sent, or the first bytes
    of a ClientHello (a record header announcing 512 bytes, and 6 of them)."""
    c = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE_S)
    if partial:
        c.sendall(b"\x16\x03\x01\x02\x00" + b"\x01\x00\x01\xfc\x03\x03")
    return c


def closed_by_server(c):
    """Blocks until the server closes `c` (True) or the test's deadline passes (False)."""
    try:
        while True:
            if not c.recv(4096):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


class HandshakeLimitsTest(TlsTestCase):
    def test_stalled_handshakes_closed_after_the_handshake_timeout(self):
        s = self.serve(*tls_flags(), "--tls-handshake-timeout-ms", "300", "--max-connections", "2")
        for partial in (False, True):
            with self.subTest(partial=partial):
                stalled = [stalled_handshake(s.port, partial) for _ in range(2)]
                for c in stalled:
                    self.assertTrue(closed_by_server(c), "the server never closed a stalled handshake")
                    c.close()
                # Their slots are free again.
                s.wait(lambda: https_status(s.port, tls_context()) == 200, what="a free connection slot")

    def test_others_served_while_handshakes_stall_and_connections_stay_bounded(self):
        s = self.serve(*tls_flags(), "--tls-handshake-timeout-ms", "600000", "--max-connections", "3")
        stalled = [stalled_handshake(s.port, True) for _ in range(2)]
        # Served meanwhile (polled: a closed connection's slot is freed when the server sees the close).
        s.wait(lambda: https_status(s.port, tls_context()) == 200, what="an answer beside the stalled handshakes")
        # A keep-alive connection takes the last slot; the next connection is closed at once.
        keep = s.conn()

        def answered():
            try:
                keep.request("GET", "/v2/health/ready")
                r = keep.getresponse()
                r.read()
                return r.status == 200
            except (OSError, http.client.HTTPException):
                # Closed at once while a closed poll's slot was still counted: the next call
                # connects again.
                keep.close()
                return False

        s.wait(answered, what="the last slot")
        extra = stalled_handshake(s.port, True)
        self.assertTrue(closed_by_server(extra), "a connection over --max-connections was kept")
        extra.close()
        self.assertRefused(https_status(s.port, tls_context()), "a connection over --max-connections")
        self.assertTrue(answered(), "the keep-alive connection was dropped")
        for x in stalled:
            x.close()
        keep.close()
        s.wait(lambda: https_status(s.port, tls_context()) == 200, what="the slots to be free")


class Gateway(Server):
    def __init__(self, topology, *flags, ssl_context=None):
        self.start([BIN, "gateway", "--topology", topology, "--http-port", "0", "--http-address", "127.0.0.1",
                    *flags], ssl_context)


class GatewayTest(TlsTestCase):
    def topology(self, url, tls=None):
        node = {"name": "node", "url": url, "tier": "edge", "models": [{"name": "add_sub", "versions": [1]}]}
        if tls:
            node["tls"] = tls
        path = os.path.join(tempfile.mkdtemp(dir=self.tmp), "topology.json")
        with open(path, "w") as f:
            json.dump({"schema_version": 1, "nodes": [node]}, f)
        return path

    def gateway(self, topology, *flags, ctx=None):
        g = Gateway(topology, *flags, ssl_context=ctx)
        self.addCleanup(g.stop)
        return g

    def test_admin_listener_over_tls_with_client_certificates(self):
        repo = make_repository(["add_sub"])
        self.addCleanup(shutil.rmtree, repo, True)
        node = Server(repo)
        self.addCleanup(node.stop)
        filters = os.path.join(self.tmp, "filters.json")
        with open(filters, "w") as f:
            json.dump({"schema_version": 1, "filters": [
                {"name": "auth", "settings": {"database": ":memory:", "admin_token": "tls-admin-token"}}]}, f)
        g = self.gateway(self.topology("http://127.0.0.1:%d" % node.port), "--filters", filters,
                         "--admin-port", "0", *tls_flags("server", "ca.pem"), ctx=tls_context(cert="client"))
        admin_port = int(g.stdout_line("admin listening on port").rsplit(" ", 1)[1])
        g.wait(lambda: g.get("/v2/health/ready")[0] == 200, what="readiness")
        token = ("Authorization", "Bearer tls-admin-token")
        self.assertEqual(curl(admin_port, "--cacert", pki("ca.pem"), "--cert", pki("client.pem"), "--key",
                              pki("client.key"), "-H", "%s: %s" % token, path="/admin/tenants")[:2], (0, 200))
        rc, status, _ = curl(admin_port, "--cacert", pki("ca.pem"), "-H", "%s: %s" % token, path="/admin/tenants")
        self.assertEqual(status, 0, "the admin listener answered a client without a certificate")
        r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", str(DEADLINE_S),
                            "-H", "%s: %s" % token, "http://127.0.0.1:%d/admin/tenants" % admin_port],
                           capture_output=True, text=True, timeout=DEADLINE_S + 5)
        self.assertNotEqual(r.stdout, "200", "the admin listener answered plain HTTP")
        # The public listener: the same TLS settings.
        self.assertEqual(curl(g.port, "--cacert", pki("ca.pem"), "--cert", pki("client.pem"), "--key",
                              pki("client.key"))[:2], (0, 200))
        self.assertRefused(https_status(g.port, tls_context()), "a client without a certificate")

        # The admin listener's /metrics counts its own handshakes: the client without a
        # certificate and the plain HTTP request above failed there.
        def admin_metrics():
            r = subprocess.run(["curl", "-sS", "--max-time", str(DEADLINE_S), "--cacert", pki("ca.pem"), "--cert",
                                pki("client.pem"), "--key", pki("client.key"), "-H", "%s: %s" % token,
                                "https://localhost:%d/metrics" % admin_port],
                               capture_output=True, text=True, timeout=DEADLINE_S + 5)
            return r.stdout

        failed = 'continuum_tls_handshakes_total{listener="admin",result="failed"} 2\n'
        g.wait(lambda: failed in admin_metrics(), what="the admin listener's failed handshakes counted")
        self.assertRegex(admin_metrics(), r'(?m)^continuum_tls_handshakes_total\{listener="public",result="failed"\} 1$')

    def test_https_nodes_with_client_certificates(self):
        """Three tiers over TLS: curl -> gateway (TLS) -> node (TLS, client certificates required)."""
        repo = make_repository(["add_sub"])
        self.addCleanup(shutil.rmtree, repo, True)
        node = self.serve(*tls_flags("server", "ca.pem"), repository=repo, ctx=tls_context(cert="client"))
        url = "https://localhost:%d" % node.port
        upstream = ["--upstream-ca", pki("ca.pem"), "--upstream-cert", pki("client.pem"),
                    "--upstream-key", pki("client.key")]
        g = self.gateway(self.topology(url), *upstream, *tls_flags(), ctx=tls_context())
        g.wait(lambda: g.get("/v2/health/ready")[0] == 200, what="readiness")
        status, out, _ = g.post(INFER, ADD_SUB)
        self.assertEqual(status, 200, out)
        self.assertEqual(out["outputs"][0]["data"], [3.0] * 16)
        # Per node: a CA that did not sign the node's certificate, and no client certificate.
        for what, tls, extra in (("another CA", {"ca": pki("other-ca.pem")}, upstream),
                                 ("no client certificate", None, ["--upstream-ca", pki("ca.pem")])):
            with self.subTest(what):
                bad = self.gateway(self.topology(url, tls), *extra, ctx=None)
                status, out, _ = bad.post(INFER, ADD_SUB)
                self.assertGreaterEqual(status, 500, out)
                self.assertIn("error", out)
                bad.stop()


NGINX = os.environ.get("CONTINUUM_TEST_NGINX", "/usr/sbin/nginx")


class Nginx:
    """Debian's nginx as a TLS server in front of a plain node: a third-party TLS peer for the
    gateway's client side. It requires client certificates from the test CA, closes every
    connection after one request (so each request is a new handshake), and logs per request
    whether the session was resumed and the client certificate's subject."""

    def __init__(self, tmp, node_port):
        self.dir = tempfile.mkdtemp(dir=tmp, prefix="nginx-")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.log = os.path.join(self.dir, "access.log")
        temp = os.path.join(self.dir, "temp")
        conf = os.path.join(self.dir, "nginx.conf")
        with open(conf, "w") as f:
            f.write("""daemon off; master_process off; worker_processes 1;
pid %(dir)s/nginx.pid; error_log %(dir)s/error.log warn;
events { worker_connections 64; }
http {
  client_body_temp_path %(temp)s; proxy_temp_path %(temp)s; fastcgi_temp_path %(temp)s;
  uwsgi_temp_path %(temp)s; scgi_temp_path %(temp)s;
  log_format tls '$ssl_session_reused $ssl_client_verify "$ssl_client_s_dn"';
  access_log %(log)s tls;
  keepalive_requests 1;
  server {
    listen 127.0.0.1:%(port)d ssl;
    ssl_certificate %(cert)s; ssl_certificate_key %(key)s;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_client_certificate %(ca)s; ssl_verify_client on;
    ssl_session_cache shared:tls:1m; ssl_session_tickets on;
    location / { proxy_pass http://127.0.0.1:%(node)d; proxy_http_version 1.1; }
  }
}
""" % {"dir": self.dir, "temp": temp, "log": self.log, "port": self.port, "node": node_port,
       "cert": pki("server.pem"), "key": pki("server.key"), "ca": pki("ca.pem")})
        os.makedirs(temp)
        self.proc = subprocess.Popen([NGINX, "-p", self.dir, "-c", conf], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)

    def ready(self):
        if self.proc.poll() is not None:
            raise AssertionError("nginx exited: " + self.proc.stderr.read())
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def log_lines(self):
        with open(self.log) as f:
            return [line.strip() for line in f if line.strip()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=DEADLINE_S)
        self.proc.stderr.close()


@unittest.skipUnless(os.access(NGINX, os.X_OK), "nginx is not installed (tools/setup.sh installs it)")
class NginxUpstreamTest(TlsTestCase):
    """The gateway's client side against nginx: the node's certificate verified, the gateway's
    client certificate presented, and a reconnect resuming the TLS session."""
    topology = GatewayTest.topology
    gateway = GatewayTest.gateway

    def test_gateway_reaches_a_node_behind_nginx_over_mutual_tls_and_resumes(self):
        repo = make_repository(["add_sub"])
        self.addCleanup(shutil.rmtree, repo, True)
        node = Server(repo)
        self.addCleanup(node.stop)
        nginx = Nginx(self.tmp, node.port)
        self.addCleanup(nginx.stop)
        node.wait(nginx.ready, what="nginx to listen")
        url = "https://localhost:%d" % nginx.port
        g = self.gateway(self.topology(url, {"ca": pki("ca.pem"), "cert": pki("client.pem"),
                                             "key": pki("client.key")}))
        g.wait(lambda: g.get("/v2/health/ready")[0] == 200, what="readiness")
        for _ in range(3):
            status, out, _ = g.post(INFER, ADD_SUB)
            self.assertEqual(status, 200, out)
            self.assertEqual(out["outputs"][0]["data"], [3.0] * 16)
        node.wait(lambda: len(nginx.log_lines()) >= 3, what="nginx's log")
        lines = nginx.log_lines()
        for line in lines:
            self.assertIn('SUCCESS "CN=tenant-a,O=continuum-tests"', line)
        # One connection per request (keepalive_requests 1): the first handshake is full, a later
        # one resumes the session the gateway kept for this host:port.
        self.assertTrue(lines[0].startswith("."), lines)
        self.assertIn("r", [line.split()[0] for line in lines[1:]], lines)

        # nginx's certificate checked against another CA: refused, the node never used.
        bad = self.gateway(self.topology(url, {"ca": pki("other-ca.pem"), "cert": pki("client.pem"),
                                               "key": pki("client.key")}))
        status, out, _ = bad.post(INFER, ADD_SUB)
        self.assertGreaterEqual(status, 500, out)
        self.assertIn("certificate verify failed", json.dumps(out))
        bad.stop()


if __name__ == "__main__":
    unittest.main()
