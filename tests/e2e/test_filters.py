"""End-to-end: `continuum serve --filters` with auth, rate limits, cache, metering and request logs."""
import hashlib
import http.client
import json
import os
import random
import sqlite3
import ssl
import string
import subprocess
import tempfile
import threading
import time
import unittest

from harness import BIN, MODELS, Server, infer_body, make_repository

ADD_SUB = infer_body([("INPUT0", "FP32", [1, 16], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])
INFER = "/v2/models/add_sub/infer"


class FiltersTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="continuum-filters-")
        cls.log = os.path.join(cls.tmp, "requests.jsonl")
        cls.usage_db = os.path.join(cls.tmp, "usage.db")
        config = {
            "schema_version": 1,
            "compute_units": {"default_factor": 1.0},
            "filters": [
                {"name": "reqlog", "settings": {"path": cls.log}},
                {"name": "auth", "settings": {"database": os.path.join(cls.tmp, "keys.db")}},
                {"name": "ratelimit", "settings": {"window": "fixed", "rules": [
                    {"scope": "model", "window_seconds": 60, "requests": 3, "models": ["identity_*"]}]}},
                {"name": "metering", "settings": {"daily_free_units": 1000000, "database": cls.usage_db,
                                                  "flush_interval_ms": 50}},
                {"name": "cache", "settings": {"ttl_seconds": 60}},
            ],
        }
        path = os.path.join(cls.tmp, "filters.json")
        with open(path, "w") as f:
            json.dump(config, f)
        cls.repo = make_repository(["add_sub", "identity_float"])
        # Every engine run takes 300 ms more, so identical requests overlap in flight.
        cls.server = Server(cls.repo, "--filters", path, "--admin-port", "0",
                            "--inject-straggler-fraction", "1", "--inject-straggler-ms", "300",
                            wait_ready=False)
        cls.admin_port = int(cls.server.stdout_line("admin listening on port").rsplit(" ", 1)[1])
        # No admin_token in the config: one is generated beside the key database.
        cls.token_line = cls.server.stdout_line("admin token in")
        cls.token_file = cls.token_line.rsplit(" ", 1)[1]
        with open(cls.token_file) as f:
            cls.admin_token = f.read().strip()
        cls.server.wait(lambda: cls.server.get("/v2/health/ready")[0] == 200, what="readiness")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def admin_raw(self, method, path, body=None, headers=None):
        """One request to the admin listener with exactly these headers (Host too, when given)."""
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.admin_port, timeout=10)
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data) if data and r.getheader("Content-Type", "").startswith("application/json") else data

    def admin(self, method, path, body=None, headers=None):
        """As an operator's client: the admin token and, with a body, a JSON content type."""
        h = {"Authorization": "Bearer " + self.admin_token}
        if body is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        return self.admin_raw(method, path, json.dumps(body) if body is not None else None, h)

    def tenant_key(self, tenant, **key):
        status, _ = self.admin("POST", "/admin/tenants", {"id": tenant, "models": ["add_sub", "identity_*"]})
        self.assertIn(status, (201, 409))
        status, out = self.admin("POST", "/admin/tenants/%s/keys" % tenant, key)
        self.assertEqual(status, 201, out)
        return out["key"], out["id"]

    def infer(self, key, body=ADD_SUB, headers=None, path=INFER):
        h = {"Authorization": "Bearer " + key}
        h.update(headers or {})
        return self.server.post(path, body, h)

    def test_keys_401_403_and_admin_only_on_its_listener(self):
        key, key_id = self.tenant_key("keys", models=["add_sub"])
        self.assertEqual(self.server.post(INFER, ADD_SUB)[0], 401)
        self.assertEqual(self.infer("ck_" + "0" * 64)[0], 401)
        self.assertEqual(self.infer(key)[0], 200)
        status, out, _ = self.infer(key, infer_body([("INPUT0", "FP32", [1, 4], [1, 2, 3, 4])]),
                                    path="/v2/models/identity_float/infer")
        self.assertEqual(status, 403, out)
        # The admin API is not on the public listener, and refuses tenant keys on its own.
        self.assertEqual(self.infer(key, path="/admin/tenants")[0], 404)
        self.assertEqual(self.admin("GET", "/admin/tenants", headers={"Authorization": "Bearer " + key})[0], 403)
        self.assertEqual(self.admin("POST", "/admin/keys/%s/revoke" % key_id)[0], 200)
        self.assertEqual(self.infer(key)[0], 401)

    def test_admin_token_generated_readable_by_owner_only(self):
        self.assertEqual(self.token_file, os.path.join(self.tmp, "keys.db.admin-token"))
        self.assertEqual(os.stat(self.token_file).st_mode & 0o777, 0o600)
        self.assertRegex(self.admin_token, r"^[0-9a-f]{64}$")
        self.assertNotIn(self.admin_token, self.token_line)
        self.assertNotIn(self.admin_token, "".join(self.server.stderr_lines), "the token is never logged")
        for headers in ({}, {"Authorization": "Bearer " + "0" * 64}, {"Authorization": "Basic eDp5"}):
            status, out = self.admin_raw("GET", "/admin/tenants", headers=headers)
            self.assertEqual(status, 401, headers)
            self.assertIn("admin token", out["error"])
        self.assertEqual(self.admin("GET", "/admin/tenants")[0], 200)

    def test_admin_refuses_foreign_hosts_origins_and_non_json(self):
        # DNS rebinding: a page of evil.example whose name now points at 127.0.0.1.
        status, out = self.admin("GET", "/admin/tenants", headers={"Host": "evil.example:%d" % self.admin_port})
        self.assertEqual(status, 421, out)
        self.assertIn("Host", out["error"])
        # A cross-site POST from a browser carries its Origin.
        status, out = self.admin("POST", "/admin/tenants", {"id": "from-evil"}, headers={"Origin": "http://evil.example"})
        self.assertEqual(status, 403, out)
        self.assertIn("Origin", out["error"])
        # A form or text body (what a browser may send without a preflight) is not JSON.
        status, out = self.admin("POST", "/admin/tenants", {"id": "from-form"}, headers={"Content-Type": "text/plain"})
        self.assertEqual(status, 415, out)
        self.assertIn("Content-Type", out["error"])
        status, out = self.admin("GET", "/admin/tenants")
        self.assertEqual(status, 200, out)
        self.assertEqual([t["id"] for t in out["tenants"] if t["id"].startswith("from-")], [])
        status, out = self.admin("POST", "/admin/tenants", {"id": "from-localhost"},
                                 headers={"Host": "localhost:%d" % self.admin_port,
                                          "Origin": "http://localhost:%d" % self.admin_port})
        self.assertEqual(status, 201, out)

    def test_admin_metrics_need_the_token(self):
        status, out = self.admin_raw("GET", "/metrics")
        self.assertEqual(status, 401, out)
        self.assertIn("admin token", out["error"])
        status, out = self.admin("GET", "/metrics", headers={"Host": "evil.example"})
        self.assertEqual(status, 421, out)
        status, out = self.admin("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertIn(b"continuum_", out)

    def test_cache_before_auth_is_refused_at_start(self):
        config = {"schema_version": 1, "filters": [
            {"name": "cache"},
            {"name": "auth", "settings": {"database": os.path.join(self.tmp, "order.db")}}]}
        path = os.path.join(self.tmp, "cache_first.json")
        with open(path, "w") as f:
            json.dump(config, f)
        proc = subprocess.run([BIN, "serve", "--model-repository", self.repo, "--http-port", "0", "--grpc-port", "0",
                               "--http-address", "127.0.0.1", "--intra-op-threads", "1", "--filters", path,
                               "--admin-port", "0"], capture_output=True, text=True, timeout=120)
        self.assertNotEqual(proc.returncode, 0, proc.stdout)
        self.assertIn("filters[0].name: 'cache' must come after 'auth'", proc.stderr)
        self.assertNotIn("listening", proc.stdout)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "order.db.admin-token")), "refused before auth ran")

    def test_other_tenants_models_are_not_found(self):
        status, _ = self.admin("POST", "/admin/tenants", {"id": "narrow", "models": ["identity_*"]})
        self.assertEqual(status, 201)
        _, out = self.admin("POST", "/admin/tenants/narrow/keys", {})
        status, body, _ = self.infer(out["key"])
        self.assertEqual(status, 404)
        self.assertEqual(body, {"error": "unknown model 'add_sub'"})
        self.assertEqual(self.infer(out["key"], path="/v2/repository/index")[0], 404)

    def test_rate_limit_429_with_headers(self):
        key, _ = self.tenant_key("limited")
        body = infer_body([("INPUT0", "FP32", [1, 4], [9, 9, 9, 9])])
        path = "/v2/models/identity_float/infer"
        # Fixed windows are aligned to multiples of their length since the epoch; start well inside
        # one so that the four requests (each held 300 ms) cannot straddle a window boundary.
        left = 60 - time.time() % 60
        if left < 5:
            time.sleep(left + 0.25)
        for i in range(3):
            status, _, resp = self.infer(key, body, {"cf-aig-skip-cache": "true"}, path=path)
            self.assertEqual(status, 200)
            self.assertEqual(resp.getheader("RateLimit-Limit"), "3")
            self.assertEqual(resp.getheader("RateLimit-Remaining"), str(2 - i))
        status, out, resp = self.infer(key, body, path=path)
        self.assertEqual(status, 429, out)
        self.assertGreaterEqual(int(resp.getheader("Retry-After")), 1)
        self.assertIsNotNone(resp.getheader("RateLimit-Reset"))

    def test_cache_hit_miss_bypass_and_bad_header(self):
        key, _ = self.tenant_key("cached")
        body = infer_body([("INPUT0", "FP32", [1, 16], [3.0] * 16), ("INPUT1", "FP32", [1, 16], [4.0] * 16)])
        s1, o1, r1 = self.infer(key, body)
        s2, o2, r2 = self.infer(key, body)
        self.assertEqual((s1, s2), (200, 200))
        self.assertEqual(r1.getheader("cache-status"), "MISS")
        self.assertEqual(r2.getheader("cache-status"), "HIT")
        self.assertEqual(o1["outputs"], o2["outputs"])
        self.assertEqual(self.infer(key, body, {"cf-aig-skip-cache": "true"})[2].getheader("cache-status"), "BYPASS")
        status, out, _ = self.infer(key, body, {"cf-aig-cache-ttl": "soon"})
        self.assertEqual(status, 400)
        self.assertIn("cf-aig-cache-ttl", out["error"])
        # Another tenant never sees this tenant's entry.
        other, _ = self.tenant_key("cached-other")
        self.assertEqual(self.infer(other, body)[2].getheader("cache-status"), "MISS")

    def test_identical_requests_in_flight_run_once(self):
        key, _ = self.tenant_key("coalesced")
        body = infer_body([("INPUT0", "FP32", [1, 16], [5.0] * 16), ("INPUT1", "FP32", [1, 16], [6.0] * 16)])
        results = []
        lock = threading.Lock()

        def one():
            status, _, resp = self.infer(key, body)
            with lock:
                results.append((status, resp.getheader("cache-status")))

        threads = [threading.Thread(target=one) for _ in range(5)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(sorted(results), [(200, "HIT")] * 4 + [(200, "MISS")])

    def test_huge_headers_431_before_the_filters(self):
        status, _, _ = self.server.request("POST", INFER, ADD_SUB, {"cf-aig-cache-key": "k" * 20000})
        self.assertEqual(status, 431)

    def test_usage_and_request_log(self):
        key, key_id = self.tenant_key("metered")
        body = infer_body([("INPUT0", "FP32", [1, 16], [7.0] * 16), ("INPUT1", "FP32", [1, 16], [8.0] * 16)])
        status, _, resp = self.infer(key, body, {"x-request-id": "usage-1"})
        self.assertEqual(status, 200)
        self.assertGreater(float(resp.getheader("x-continuum-units")), 0)
        status, usage, _ = self.server.request("GET", "/usage", headers={"Authorization": "Bearer " + key})
        self.assertEqual(status, 200)
        usage = json.loads(usage)
        self.assertEqual(usage["tenant"], "metered")
        self.assertEqual(usage["days"][0]["usage"][0]["model"], "add_sub")
        self.assertGreater(usage["days"][0]["units"], 0)
        status, _, _ = self.server.request("GET", "/usage?tenant=cached", headers={"Authorization": "Bearer " + key})
        self.assertEqual(status, 404)
        deadline = time.time() + 5
        line = None
        while time.time() < deadline and line is None:
            with open(self.log) as f:
                for l in f:
                    if '"id":"usage-1"' in l:
                        line = json.loads(l)
            time.sleep(0.05)
        self.assertIsNotNone(line)
        self.assertEqual(line["tenant"], "metered")
        self.assertEqual(line["key"], key_id)
        self.assertEqual(line["model"], "add_sub")
        self.assertEqual(line["status"], 200)
        self.assertEqual(line["cache"], "MISS")
        self.assertGreater(line["units"], 0)
        self.assertNotIn("request_body", line)

    def test_unknown_model_names_grow_nothing(self):
        # A tenant free to name any model floods the node with random names.
        status, _ = self.admin("POST", "/admin/tenants", {"id": "flood"})
        self.assertIn(status, (201, 409))
        status, out = self.admin("POST", "/admin/tenants/flood/keys", {})
        self.assertEqual(status, 201, out)
        key = out["key"]
        status, before = self.admin("GET", "/metrics")
        self.assertEqual(status, 200)
        rng = random.Random(11)
        name = lambda n: "".join(rng.choice(string.ascii_letters) for _ in range(n))
        seen = []
        for i in range(100):
            long_name = name(60000)
            status, out, _ = self.infer(key, json.dumps({"model": long_name, "input": "x"}), path="/v1/embeddings")
            self.assertEqual(status, 400)
            self.assertIn("model: ", out["error"][:40])
            self.assertEqual(self.infer(key, path="/v2/models/%s/infer" % name(300))[0], 400)
            short = name(200)
            seen.append(short)
            self.assertEqual(self.infer(key, path="/v2/models/%s/infer" % short)[0], 404)
            self.assertEqual(self.infer(key, json.dumps({"model": short, "input": "x"}), path="/v1/embeddings")[0], 404)
        self.assertEqual(self.infer(key)[0], 200)
        status, usage, _ = self.server.request("GET", "/usage", headers={"Authorization": "Bearer " + key})
        self.assertEqual(status, 200)
        models = {u["model"] for d in json.loads(usage)["days"] for u in d["usage"]}
        self.assertEqual(models, {"add_sub"}, "%d models in /usage" % len(models))
        # The usage database gets the served model's row, and only that one.
        def rows():
            with sqlite3.connect(self.usage_db, timeout=5) as db:
                return [r[0] for r in db.execute("SELECT model FROM usage WHERE tenant = 'flood'")]
        self.server.wait(lambda: rows() != [], what="the usage row to be saved")
        self.assertEqual(rows(), ["add_sub"], "%d usage rows" % len(rows()))
        status, after = self.admin("GET", "/metrics")
        self.assertEqual(status, 200)
        self.assertLess(len(after) - len(before), 4096)
        for short in seen[:20]:
            self.assertNotIn(short.encode(), after)


class ProbesAreNotRateLimitedTest(unittest.TestCase):
    def test_health_probes_never_get_429_from_a_key_rule(self):
        tmp = tempfile.mkdtemp(prefix="continuum-filters-probes-")
        path = os.path.join(tmp, "filters.json")
        # Without auth, a key rule counts per client address: the probes and the requests below
        # all come from 127.0.0.1, the way a load balancer's probes share its address.
        with open(path, "w") as f:
            json.dump({"schema_version": 1, "filters": [{"name": "ratelimit", "settings": {
                "window": "fixed", "rules": [{"scope": "key", "window_seconds": 3600, "requests": 3}]}}]}, f)
        with Server(make_repository(["add_sub"]), "--filters", path, "--admin-port", "0", wait_ready=False) as s:
            for _ in range(20):
                status, _, resp = s.request("GET", "/v2/health/live")
                self.assertEqual(status, 200)
                self.assertIsNone(resp.getheader("RateLimit-Limit"))
            s.wait(lambda: s.get("/v2/health/ready")[0] == 200, what="readiness")
            for _ in range(20):
                for probe in ("/v2/health/live", "/v2/health/ready"):
                    status, _, resp = s.request("GET", probe)
                    self.assertEqual(status, 200, probe)
                    self.assertIsNone(resp.getheader("RateLimit-Limit"), probe)
            # The rule still holds for everything else from that address (start well inside one
            # fixed window, aligned to multiples of its length since the epoch).
            left = 3600 - time.time() % 3600
            if left < 5:
                time.sleep(left + 0.25)
            for i in range(3):
                status, out, resp = s.post(INFER, ADD_SUB)
                self.assertEqual(status, 200, out)
                self.assertEqual(resp.getheader("RateLimit-Remaining"), str(2 - i))
            status, out, _ = s.post(INFER, ADD_SUB)
            self.assertEqual(status, 429, out)
            # Once the address is limited, its probes are still answered.
            self.assertEqual(s.get("/v2/health/live")[0], 200)
            self.assertEqual(s.get("/v2/health/ready")[0], 200)


class CacheVersionTest(unittest.TestCase):
    def test_a_new_version_is_never_answered_from_the_old_versions_entry(self):
        tmp = tempfile.mkdtemp(prefix="continuum-filters-version-")
        path = os.path.join(tmp, "filters.json")
        with open(path, "w") as f:
            json.dump({"schema_version": 1, "filters": [{"name": "cache", "settings": {"ttl_seconds": 3600}}]}, f)
        repo = make_repository(["add_sub"])
        with Server(repo, "--filters", path, "--admin-port", "0", "--model-control-mode", "poll",
                    "--repository-poll-secs", "1") as s:
            status, out, r = s.post(INFER, ADD_SUB)
            self.assertEqual((status, r.getheader("cache-status"), out["model_version"]), (200, "MISS", "1"))
            status, out, r = s.post(INFER, ADD_SUB)
            self.assertEqual((status, r.getheader("cache-status"), out["model_version"]), (200, "HIT", "1"))
            # Version 2 arrives (and, by the default policy, replaces version 1).
            os.makedirs(os.path.join(repo, "add_sub", "2"))
            os.symlink(os.path.join(os.path.abspath(MODELS), "add_sub", "1", "model.onnx"),
                       os.path.join(repo, "add_sub", "2", "model.onnx"))
            s.wait(lambda: s.get("/v2/models/add_sub")[1]["versions"] == ["2"], what="version 2")
            status, out, r = s.post(INFER, ADD_SUB)
            self.assertEqual((status, r.getheader("cache-status"), out["model_version"]), (200, "MISS", "2"))
            status, out, r = s.post(INFER, ADD_SUB)
            self.assertEqual((status, r.getheader("cache-status"), out["model_version"]), (200, "HIT", "2"))


class FiltersMutualTlsTest(unittest.TestCase):
    """Tenants bound to client certificates, over real mutual TLS: the public listener asks for a
    client certificate (optional, so key-only clients connect too) and auth maps a verified one to
    its tenant."""

    @classmethod
    def setUpClass(cls):
        cls.pki = os.environ["CONTINUUM_TEST_PKI"]
        cls.tmp = tempfile.mkdtemp(prefix="continuum-mtls-")
        cls.log = os.path.join(cls.tmp, "requests.jsonl")
        cls.admin_token = "mtls-admin-token-0123456789"
        config = {"schema_version": 1, "filters": [
            {"name": "reqlog", "settings": {"path": cls.log}},
            {"name": "auth", "settings": {"database": os.path.join(cls.tmp, "keys.db"),
                                          "admin_token": cls.admin_token}}]}
        path = os.path.join(cls.tmp, "filters.json")
        with open(path, "w") as f:
            json.dump(config, f)
        cls.repo = make_repository(["add_sub"])
        cls.server = Server(cls.repo, "--filters", path, "--admin-port", "0",
                            "--tls-cert", cls.file("server.pem"), "--tls-key", cls.file("server.key"),
                            "--tls-client-ca", cls.file("ca.pem"), "--tls-client-auth", "optional",
                            wait_ready=False)
        cls.admin_port = int(cls.server.stdout_line("admin listening on port").rsplit(" ", 1)[1])
        cls.server.wait(lambda: cls.call(None, "GET", "/v2/health/ready")[0] == 200, what="readiness over TLS")
        # Tenant a by the subject of `client`, tenant b by the SHA-256 of `client-b`, and one with a key.
        with open(cls.file("client-b.pem")) as f:
            sha_b = hashlib.sha256(ssl.PEM_cert_to_DER_cert(f.read())).hexdigest()
        for tenant, certs in (("cert-a", [{"subject": "CN=tenant-a,O=continuum-tests"}]),
                              ("cert-b", [{"sha256": sha_b.upper()}]), ("keyed", [])):
            status, out = cls.admin("POST", "/admin/tenants",
                                    {"id": tenant, "models": ["add_sub"], "client_certificates": certs})
            assert status == 201, out
        status, out = cls.admin("POST", "/admin/tenants/keyed/keys", {})
        assert status == 201, out
        cls.key = out["key"]
        cls.sha_b = sha_b

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    @classmethod
    def file(cls, name):
        return os.path.join(cls.pki, name)

    @classmethod
    def admin(cls, method, path, body):
        # The admin listener serves TLS with the same flags (no client certificate needed here).
        ctx = ssl.create_default_context(cafile=cls.file("ca.pem"))
        c = http.client.HTTPSConnection("127.0.0.1", cls.admin_port, context=ctx, timeout=30)
        c.request(method, path, body=json.dumps(body), headers={
            "Authorization": "Bearer " + cls.admin_token, "Content-Type": "application/json"})
        r = c.getresponse()
        out = json.loads(r.read())
        c.close()
        return r.status, out

    @classmethod
    def call(cls, client, method, path, body=None, key=None, request_id=None):
        """One HTTPS request, with the client certificate `client` (a name in the test PKI) or none."""
        ctx = ssl.create_default_context(cafile=cls.file("ca.pem"))
        if client:
            ctx.load_cert_chain(cls.file(client + ".pem"), cls.file(client + ".key"))
        c = http.client.HTTPSConnection("127.0.0.1", cls.server.port, context=ctx, timeout=30)
        headers = {"Authorization": "Bearer " + key} if key else {}
        if request_id:
            headers["X-Request-Id"] = request_id
        c.request(method, path, body=body, headers=headers)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, json.loads(data) if data and r.getheader("Content-Type", "").startswith("application/json") else data

    def logged(self, request_id):
        """The request log's line for `request_id` (the log is written after the answer)."""
        found = []

        def look():
            with open(self.log) as f:
                found[:] = [json.loads(l) for l in f if request_id in l]
            return found
        self.server.wait(look, what="the request log line of " + request_id)
        return found[0]

    def infer(self, client, key=None, request_id=None):
        return self.call(client, "POST", INFER, json.dumps(ADD_SUB), key, request_id)

    def test_a_bound_certificate_is_its_tenant_without_a_key(self):
        status, out = self.infer("client", request_id="mtls-by-subject")
        self.assertEqual(status, 200, out)
        line = self.logged("mtls-by-subject")
        self.assertEqual(line["tenant"], "cert-a")
        self.assertRegex(line["key"], r"^cert_[0-9a-f]{16}$")
        status, out = self.infer("client-b", request_id="mtls-by-sha256")
        self.assertEqual(status, 200, out)
        line = self.logged("mtls-by-sha256")
        self.assertEqual((line["tenant"], line["key"]), ("cert-b", "cert_" + self.sha_b[:16]))

    def test_without_a_certificate_keys_work_as_before(self):
        status, out = self.infer(None)
        self.assertEqual(status, 401, out)
        self.assertIn("client certificate bound to a tenant", out["error"])
        self.assertEqual(self.infer(None, key=self.key)[0], 200)

    def test_a_key_and_a_certificate_of_different_tenants_are_refused(self):
        status, out = self.infer("client", key=self.key)
        self.assertEqual(status, 403, out)
        self.assertEqual(out["error"], "the API key and the client certificate belong to different tenants")
        self.assertEqual(self.infer("client", key="ck_" + "0" * 64)[0], 401)


if __name__ == "__main__":
    unittest.main()
