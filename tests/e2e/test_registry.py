"""`continuum push` / `continuum pull` against Debian's real docker-registry (tests/e2e/registry.py):
round trips that keep every byte, dedup and cross-repository mounts, htpasswd and bearer-token
auth from a Docker config, TLS with --ca-file, and faults injected by tests/e2e/faultproxy.py."""
import base64
import hashlib
import json
import os
import random
import re
import shutil
import subprocess
import tempfile
import unittest

from faultproxy import FaultProxy, Rule
from harness import BIN, MODELS, pki
from registry import Registry
from tokenserver import TokenServer

EPOCH = "1767323045"
TOKENIZER_BYTES = 600_000


def blob_path(layout, digest):
    return os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])


def read_json(path):
    with open(path) as f:
        return json.load(f)


def tags(layout):
    index = os.path.join(layout, "index.json")
    if not os.path.exists(index):
        return {}
    return {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
            for m in read_json(index).get("manifests", [])}


class RegistryTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="continuum-registry-")
        self.model = os.path.join(self.tmp, "model")
        shutil.copytree(os.path.join(MODELS, "add_sub"), self.model)
        rnd = random.Random(7)
        with open(os.path.join(self.model, "tokenizer.json"), "wb") as f:
            f.write(bytes(rnd.getrandbits(8) for _ in range(TOKENIZER_BYTES)))
        self.write_readme("version 1\n")
        self.layout = os.path.join(self.tmp, "layout")
        self.env = dict(os.environ)
        self.env["DOCKER_CONFIG"] = os.path.join(self.tmp, "docker")
        self.env["XDG_STATE_HOME"] = os.path.join(self.tmp, "state")
        self.env["SOURCE_DATE_EPOCH"] = EPOCH

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_readme(self, text):
        with open(os.path.join(self.model, "README.md"), "w") as f:
            f.write(text)

    def pack(self, ref):
        r = subprocess.run([BIN, "pack", self.model, "-t", ref, "--output", self.layout],
                           capture_output=True, text=True, env=self.env, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout.strip()

    def cli(self, command, ref, *flags, layout=None, ok=True):
        r = subprocess.run([BIN, command, ref, "--layout", layout or self.layout, "--retry-backoff-ms", "1", *flags],
                           capture_output=True, text=True, env=self.env, timeout=120)
        if ok:
            self.assertEqual(r.returncode, 0, r.stderr)
        else:
            self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        return r

    def counts(self, stderr):
        m = re.search(r"(\d+) blobs, (\d+) already there, (\d+) mounted, (\d+) (?:uploaded|downloaded)", stderr)
        self.assertIsNotNone(m, stderr)
        return tuple(int(x) for x in m.groups())

    def docker_login(self, host, user, password):
        os.makedirs(self.env["DOCKER_CONFIG"], exist_ok=True)
        auth = base64.b64encode(("%s:%s" % (user, password)).encode()).decode()
        with open(os.path.join(self.env["DOCKER_CONFIG"], "config.json"), "w") as f:
            json.dump({"auths": {host: {"auth": auth}}}, f)

    def manifest_blobs(self, layout, digest):
        m = read_json(blob_path(layout, digest))
        return {d["digest"]: d["size"] for d in [m["config"], *m["layers"]]}

    def assert_same_package(self, a, b, digest):
        self.assertEqual(tags(b).get("1"), digest)
        for d in [digest, *self.manifest_blobs(a, digest)]:
            with open(blob_path(a, d), "rb") as fa, open(blob_path(b, d), "rb") as fb:
                self.assertEqual(fa.read(), fb.read(), d)

    def tokenizer_digest(self, digest):
        m = read_json(blob_path(self.layout, digest))
        return next(l["digest"] for l in m["layers"]
                    if l["annotations"]["org.cncf.model.filepath"] == "tokenizer.json")

    # --- round trips, dedup, mounts ---

    def test_push_then_pull_keeps_every_byte(self):
        with Registry() as reg:
            ref = reg.host + "/models/m:1"
            digest = self.pack(ref)
            r = self.cli("push", ref, "--insecure", "--chunk-bytes", "100000")
            self.assertEqual(r.stdout.strip(), digest)
            n = len(self.manifest_blobs(self.layout, digest))
            self.assertEqual(self.counts(r.stderr), (n, 0, 0, n))
            self.assertNotIn("\r", r.stderr)  # no progress bar in a pipe
            pulled = os.path.join(self.tmp, "pulled")
            r = self.cli("pull", ref, "--insecure", layout=pulled)
            self.assertEqual(r.stdout.strip(), digest)
            self.assert_same_package(self.layout, pulled, digest)
            self.assertEqual(os.listdir(os.path.join(pulled, ".continuum-ingest")), [])
            r = self.cli("pull", ref, "--insecure", layout=pulled)  # everything already there
            self.assertEqual(self.counts(r.stderr), (n, n, 0, 0))

    def test_push_sends_each_blob_in_chunk_bytes_requests(self):
        """The default chunk is large (a registry may sync at the end of every PATCH): each blob, a
        20 MB one included, goes in its closing PUT alone. --chunk-bytes cuts each blob into that
        many bytes per request, streamed from its file: PATCHes, the last chunk in the PUT."""
        with open(os.path.join(self.model, "weights.bin"), "wb") as f:
            f.write(random.Random(3).randbytes(20_000_000))
        for chunk, patches_of in ((None, lambda size: 0), (100000, lambda size: -(-size // 100000) - 1)):
            with Registry() as reg:
                ref = reg.host + "/models/m:1"
                digest = self.pack(ref)
                flags = ["--chunk-bytes", str(chunk)] if chunk else []
                self.cli("push", ref, "--insecure", *flags)
                sizes = self.manifest_blobs(self.layout, digest).values()
                log = reg.log()
                self.assertEqual(len(re.findall(r'"PATCH /v2/models/m/blobs/uploads/', log)),
                                 sum(patches_of(s) for s in sizes), chunk)
                self.assertEqual(len(re.findall(r'"PUT /v2/models/m/blobs/uploads/[^ ]*digest=', log)), len(sizes))
                self.assertGreater(max(sizes), 20_000_000 - 1)
                pulled = os.path.join(self.tmp, "pulled-%s" % chunk)
                self.cli("pull", ref, "--insecure", layout=pulled)
                self.assert_same_package(self.layout, pulled, digest)

    def test_progress_bar_only_on_a_terminal(self):
        import pty
        with Registry() as reg:
            ref = reg.host + "/models/m:1"
            self.pack(ref)
            master, slave = pty.openpty()
            r = subprocess.run([BIN, "push", ref, "--layout", self.layout, "--insecure"], stdout=subprocess.PIPE,
                               stderr=slave, env=self.env, timeout=120)
            os.close(slave)
            out = b""
            while True:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # the terminal's other end is closed: all read
                    break
                if not chunk:
                    break
                out += chunk
            os.close(master)
            self.assertEqual(r.returncode, 0, out)
            self.assertIn(b"\rpushing [", out)
            self.assertIn(b"continuum push: ", out)

    def add_signature(self, digest):
        """Tags a cosign-style signature manifest of `digest` in the layout (sha256-<hex>.sig)."""
        def put(data):
            d = "sha256:" + hashlib.sha256(data).hexdigest()
            with open(blob_path(self.layout, d), "wb") as f:
                f.write(data)
            return {"digest": d, "size": len(data)}
        payload = json.dumps({"critical": {"image": {"docker-manifest-digest": digest}}}).encode()
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **put(b"{}")},
            "layers": [{"mediaType": "application/vnd.dev.cosign.simplesigning.v1+json", **put(payload),
                        "annotations": {"dev.cosignproject.cosign/signature": "MEUCIQ=="}}]}).encode()
        desc = put(manifest)
        index_path = os.path.join(self.layout, "index.json")
        index = read_json(index_path)
        tag = "sha256-%s.sig" % digest.split(":")[1]
        index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", **desc,
                                   "annotations": {"org.opencontainers.image.ref.name": tag}})
        with open(index_path, "w") as f:
            json.dump(index, f)
        return tag, desc["digest"]

    def test_signature_tag_travels_with_the_package(self):
        with Registry() as reg:
            ref = reg.host + "/models/m:1"
            digest = self.pack(ref)
            tag, sig_digest = self.add_signature(digest)
            r = self.cli("push", ref, "--insecure")
            self.assertIn("with signature", r.stderr)
            self.assertEqual(len(reg.requests("PUT", "/manifests/" + tag)), 1)
            pulled = os.path.join(self.tmp, "pulled")
            r = self.cli("pull", ref, "--insecure", layout=pulled)
            self.assertIn("with signature", r.stderr)
            self.assertEqual(tags(pulled), {"1": digest, tag: sig_digest})
            with open(blob_path(self.layout, sig_digest), "rb") as a, open(blob_path(pulled, sig_digest), "rb") as b:
                self.assertEqual(a.read(), b.read())
            # A package without a signature on the registry pulls without one, and no error.
            self.pack(reg.host + "/models/unsigned:1")
            self.cli("push", reg.host + "/models/unsigned:1", "--insecure")
            other = os.path.join(self.tmp, "other")
            r = self.cli("pull", reg.host + "/models/unsigned:1", "--insecure", layout=other)
            self.assertNotIn("with signature", r.stderr)
            self.assertEqual(list(tags(other)), ["1"])

    def test_second_version_uploads_only_what_changed(self):
        with Registry() as reg, FaultProxy(reg.host) as proxy:
            v1 = self.pack(proxy.host + "/models/m:1")
            self.cli("push", proxy.host + "/models/m:1", "--insecure")
            self.write_readme("version 2\n")
            v2 = self.pack(proxy.host + "/models/m:2")
            b1, b2 = self.manifest_blobs(self.layout, v1), self.manifest_blobs(self.layout, v2)
            changed = {d: s for d, s in b2.items() if d not in b1}
            self.assertIn(self.tokenizer_digest(v2), b1)  # shared
            proxy.clear()
            r = self.cli("push", proxy.host + "/models/m:2", "--insecure")
            self.assertEqual(self.counts(r.stderr), (len(b2), len(b2) - len(changed), 0, len(changed)))
            self.assertEqual(len(proxy.served("POST", r"/blobs/uploads/")), len(changed))
            uploads = proxy.served("PATCH") + proxy.served("PUT", r"/blobs/uploads/")  # a blob's last chunk in its PUT
            self.assertEqual(sum(s.request_bytes for s in uploads), sum(changed.values()))
            puts = [s.path for s in proxy.served("PUT", r"/blobs/uploads/")]
            self.assertEqual(sorted(p.split("digest=")[1].replace("%3A", ":") for p in puts), sorted(changed))

    def test_mount_across_repositories(self):
        with Registry() as reg, FaultProxy(reg.host) as proxy:
            digest = self.pack(proxy.host + "/models/a:1")
            self.cli("push", proxy.host + "/models/a:1", "--insecure")
            proxy.clear()
            r = self.cli("push", proxy.host + "/models/b:1", "--insecure")
            n = len(self.manifest_blobs(self.layout, digest))
            self.assertEqual(self.counts(r.stderr), (n, 0, n, 0))
            posts = proxy.served("POST", r"/v2/models/b/blobs/uploads/")
            self.assertEqual(len(posts), n)
            self.assertTrue(all("from=models%2Fa" in p.path and "mount=sha256" in p.path for p in posts), posts)
            self.assertEqual(proxy.served("PATCH"), [])
            pulled = os.path.join(self.tmp, "pulled")
            self.cli("pull", proxy.host + "/models/b:1", "--insecure", layout=pulled)
            self.assert_same_package(self.layout, pulled, digest)
            with open(os.path.join(self.env["XDG_STATE_HOME"], "continuum", "registry-blobs.tsv")) as f:
                self.assertIn(proxy.host + "\tmodels/a\t" + self.tokenizer_digest(digest), f.read())

    def test_pull_accepts_an_oras_artifact(self):
        cache = os.environ.get("CONTINUUM_CACHE") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "continuum")
        oras = os.path.join(cache, "go", "bin", "oras")
        if not os.access(oras, os.X_OK):
            self.skipTest("ORAS CLI not installed (tools/oras.sh)")
        with Registry() as reg:
            data = os.path.join(self.tmp, "weights.bin")
            with open(data, "wb") as f:
                f.write(os.urandom(70_000))
            r = subprocess.run([oras, "push", "--plain-http", reg.host + "/art/x:1", "weights.bin"],
                               cwd=self.tmp, capture_output=True, text=True, env=self.env, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            pulled = os.path.join(self.tmp, "pulled")
            digest = self.cli("pull", reg.host + "/art/x:1", "--insecure", layout=pulled).stdout.strip()
            manifest = read_json(blob_path(pulled, digest))
            self.assertEqual(manifest["artifactType"], "application/vnd.unknown.artifact.v1")
            self.assertEqual(manifest["config"]["mediaType"], "application/vnd.oci.empty.v1+json")
            with open(blob_path(pulled, manifest["layers"][0]["digest"]), "rb") as f, open(data, "rb") as g:
                self.assertEqual(f.read(), g.read())
            self.assertEqual(tags(pulled), {"1": digest})

    # --- auth and transport security ---

    def test_htpasswd_credentials_from_docker_config(self):
        with Registry(auth="htpasswd", users={"alice": "secret"}) as reg:
            ref = reg.host + "/models/m:1"
            digest = self.pack(ref)
            r = self.cli("push", ref, "--insecure", ok=False)
            self.assertIn("has none for " + reg.host, r.stderr)
            self.docker_login(reg.host, "alice", "wrong")
            r = self.cli("push", ref, "--insecure", ok=False)
            self.assertIn("refused the credentials", r.stderr)
            self.docker_login(reg.host, "alice", "secret")
            self.assertEqual(self.cli("push", ref, "--insecure").stdout.strip(), digest)
            pulled = os.path.join(self.tmp, "pulled")
            self.cli("pull", ref, "--insecure", layout=pulled)
            self.assert_same_package(self.layout, pulled, digest)

    def test_bearer_token_flow(self):
        with TokenServer(self.tmp, users={"bob": "hunter2"}) as tokens, Registry(extra_config=tokens.registry_config()) as reg:
            ref = reg.host + "/models/m:1"
            digest = self.pack(ref)
            r = self.cli("push", ref, "--insecure", ok=False)
            self.assertIn("token service", r.stderr)
            self.docker_login(reg.host, "bob", "hunter2")
            self.assertEqual(self.cli("push", ref, "--insecure").stdout.strip(), digest)
            pulled = os.path.join(self.tmp, "pulled")
            self.cli("pull", ref, "--insecure", layout=pulled)
            self.assert_same_package(self.layout, pulled, digest)
            scopes = [s for q in tokens.requests for s in q.get("scope", [])]
            self.assertIn("repository:models/m:pull,push", scopes)
            self.assertIn("repository:models/m:pull", scopes)
            self.assertTrue(all(q.get("service") == [tokens.service] for q in tokens.requests))
            # One token per command (the refused one, push, pull), not one per request.
            self.assertEqual(len(tokens.requests), 3, tokens.requests)

    def test_tls_with_ca_file(self):
        with Registry(tls=(pki("server.pem"), pki("server.key"))) as reg:
            ref = "localhost:%s/models/m:1" % reg.host.rsplit(":", 1)[1]
            digest = self.pack(ref)
            r = self.cli("push", ref, ok=False)  # the test CA is not in the system trust store
            self.assertIn("certificate verify failed", r.stderr)
            self.assertEqual(self.cli("push", ref, "--ca-file", pki("ca.pem")).stdout.strip(), digest)
            pulled = os.path.join(self.tmp, "pulled")
            self.cli("pull", ref, "--ca-file", pki("ca.pem"), layout=pulled)
            self.assert_same_package(self.layout, pulled, digest)

    def test_insecure_refused_for_a_non_loopback_host(self):
        self.pack("registry.example.com/models/m:1")
        for command in ("push", "pull"):
            r = self.cli(command, "registry.example.com/models/m:1", "--insecure", ok=False)
            self.assertIn("registry.example.com", r.stderr)
            self.assertIn("loopback", r.stderr)

    # --- faults ---

    def pushed(self, reg):
        """Pushes the package straight to the registry; returns (digest, tokenizer digest)."""
        ref = reg.host + "/models/m:1"
        digest = self.pack(ref)
        self.cli("push", ref, "--insecure")
        return digest, self.tokenizer_digest(digest)

    def assert_nothing_tagged(self, layout, tokenizer):
        self.assertEqual(tags(layout), {})
        self.assertFalse(os.path.exists(blob_path(layout, tokenizer)))

    def test_cut_download_resumes_with_only_the_rest(self):
        with Registry() as reg, FaultProxy(reg.host) as proxy:
            digest, tok = self.pushed(reg)
            cut = 250_000
            proxy.add_rule(Rule("GET", "/blobs/" + tok, "drop", after=cut, times=1))
            pulled = os.path.join(self.tmp, "pulled")
            ref = proxy.host + "/models/m:1"
            r = self.cli("pull", ref, "--insecure", "--retries", "0", layout=pulled, ok=False)
            self.assertIn(tok, r.stderr)
            self.assert_nothing_tagged(pulled, tok)
            partial = os.path.join(pulled, ".continuum-ingest", tok.split(":")[1] + ".partial")
            self.assertEqual(os.path.getsize(partial), cut)
            proxy.clear()
            self.cli("pull", ref, "--insecure", layout=pulled)
            gets = proxy.served("GET", "/blobs/" + tok)
            self.assertEqual(len(gets), 1)
            self.assertEqual(gets[0].headers.get("range"), "bytes=%d-" % cut)
            self.assertIn("if-range", gets[0].headers)
            self.assertEqual(gets[0].status, 206)
            self.assertEqual(gets[0].body_bytes, TOKENIZER_BYTES - cut)
            self.assert_same_package(self.layout, pulled, digest)
            # Within one pull, a retry resumes the same way.
            shutil.rmtree(pulled)
            proxy.clear()
            proxy.add_rule(Rule("GET", "/blobs/" + tok, "drop", after=cut, times=1))
            self.cli("pull", ref, "--insecure", "--retries", "2", layout=pulled)
            self.assertEqual([g.body_bytes for g in proxy.served("GET", "/blobs/" + tok)], [cut, TOKENIZER_BYTES - cut])
            self.assert_same_package(self.layout, pulled, digest)

    # --- kill -9 during a pull ---

    def assert_layout_consistent(self, layout, expect):
        """Every tag names a manifest whose blobs are all there with their bytes; the tags are a
        subset of `expect` (tag -> digest) with those digests."""
        for tag, digest in tags(layout).items():
            self.assertEqual(expect.get(tag), digest, tag)
            for d, size in [(digest, None), *self.manifest_blobs(layout, digest).items()]:
                with open(blob_path(layout, d), "rb") as f:
                    data = f.read()
                self.assertEqual("sha256:" + hashlib.sha256(data).hexdigest(), d)
                if size is not None:
                    self.assertEqual(len(data), size)

    def test_kill_9_during_pull_keeps_the_old_package_or_the_whole_new_one(self):
        """A pull killed at points across its work (the manifest, each new blob at several offsets):
        the layout still holds version 1 and either no version 2 or all of it; the next pull
        completes and no temporary file is left. CONTINUUM_PULL_KILL_ITERATIONS sets the number of
        kills (make soak-packages runs 200)."""
        import signal
        iterations = int(os.environ.get("CONTINUUM_PULL_KILL_ITERATIONS", "8"))
        with Registry() as reg, FaultProxy(reg.host) as proxy:
            ref1 = reg.host + "/models/m:1"
            d1 = self.pack(ref1)
            self.cli("push", ref1, "--insecure")
            rnd = random.Random(8)
            with open(os.path.join(self.model, "tokenizer.json"), "wb") as f:
                f.write(bytes(rnd.getrandbits(8) for _ in range(TOKENIZER_BYTES)))
            self.write_readme("version 2\n")
            ref2 = reg.host + "/models/m:2"
            d2 = self.pack(ref2)
            self.cli("push", ref2, "--insecure")
            old = self.manifest_blobs(self.layout, d1)
            new = sorted((d, n) for d, n in self.manifest_blobs(self.layout, d2).items() if d not in old)
            self.assertGreaterEqual(len(new), 2)
            pulled = os.path.join(self.tmp, "pulled")
            self.cli("pull", proxy.host + "/models/m:1", "--insecure", layout=pulled)
            points = [("/manifests/2", 10)] + [("/blobs/" + d, off) for d, n in new for off in (0, n // 3, n - 1)]
            for i in range(iterations):
                # A point on a blob an earlier pull already finished is never reached: skip those.
                left = [pt for pt in points
                        if pt[0].startswith("/manifests/") or not os.path.exists(blob_path(pulled, pt[0][7:]))]
                path, after = left[i % len(left)]
                proxy.clear()
                proxy.release.clear()
                proxy.add_rule(Rule("GET", path, "stall", after=after, times=1))
                p = subprocess.Popen([BIN, "pull", proxy.host + "/models/m:2", "--layout", pulled, "--insecure"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=self.env)
                stalled = False
                while not stalled and p.poll() is None:
                    stalled = proxy.wait_stalled(timeout=0.2)
                p.send_signal(signal.SIGKILL)
                p.wait(timeout=60)
                proxy.release_stalls()
                self.assertTrue(stalled, "iteration %d: the pull ended (%s) before %s" % (i, p.returncode, path))
                self.assert_layout_consistent(pulled, {"1": d1, "2": d2})
                self.assertEqual(tags(pulled), {"1": d1}, "iteration %d" % i)
            proxy.clear()
            proxy.release.set()
            r = self.cli("pull", proxy.host + "/models/m:2", "--insecure", layout=pulled)
            self.assertEqual(r.stdout.strip(), d2)
            self.assert_layout_consistent(pulled, {"1": d1, "2": d2})
            self.assertEqual(set(tags(pulled)), {"1", "2"})
            self.assertEqual(os.listdir(os.path.join(pulled, ".continuum-ingest")), [])
            leftovers = [os.path.join(dp, f) for dp, _, fs in os.walk(pulled) for f in fs if ".tmp-" in f]
            self.assertEqual(leftovers, [])

    def test_full_answer_to_a_ranged_get_starts_over(self):
        with Registry() as reg, FaultProxy(reg.host) as proxy:
            digest, tok = self.pushed(reg)
            cut = 100_000
            ref = proxy.host + "/models/m:1"
            proxy.add_rule(Rule("GET", "/blobs/" + tok, "drop", after=cut, times=1))
            proxy.add_rule(Rule("GET", "/blobs/" + tok, "ignore_range", times=1))
            pulled = os.path.join(self.tmp, "pulled")
            self.cli("pull", ref, "--insecure", "--retries", "1", layout=pulled)
            gets = proxy.served("GET", "/blobs/" + tok)
            self.assertEqual([(g.status, g.body_bytes) for g in gets], [(200, cut), (200, TOKENIZER_BYTES)])
            self.assertEqual(gets[1].headers.get("range"), "bytes=%d-" % cut)  # asked, not granted
            self.assert_same_package(self.layout, pulled, digest)

    def test_manifest_digest_is_checked(self):
        with Registry() as reg, FaultProxy(reg.host) as proxy:
            _, tok = self.pushed(reg)
            proxy.add_rule(Rule("GET", "/manifests/1", "wrong_digest"))
            pulled = os.path.join(self.tmp, "pulled")
            r = self.cli("pull", proxy.host + "/models/m:1", "--insecure", layout=pulled, ok=False)
            self.assertIn("the registry says sha256:" + "0" * 64, r.stderr)
            self.assert_nothing_tagged(pulled, tok)

    def test_failed_upload_starts_over(self):
        with Registry() as reg, FaultProxy(reg.host) as proxy:
            ref = proxy.host + "/models/m:1"
            digest = self.pack(ref)
            n = len(self.manifest_blobs(self.layout, digest))
            # A blob of one chunk is uploaded by its PUT (the PATCHes carry the chunks before the last).
            proxy.add_rule(Rule("PUT", "/blobs/uploads/", "status", status=502, times=1))
            r = self.cli("push", ref, "--insecure", "--retries", "1", "--concurrency", "1")
            self.assertEqual(self.counts(r.stderr), (n, 0, 0, n))
            self.assertEqual(len(proxy.served("POST", "/blobs/uploads/")), n + 1)  # one upload begun again
            pulled = os.path.join(self.tmp, "pulled")
            self.cli("pull", ref, "--insecure", layout=pulled)
            self.assert_same_package(self.layout, pulled, digest)
            proxy.clear()
            proxy.add_rule(Rule("PATCH", "/blobs/uploads/", "status", status=502))
            self.write_readme("changed\n")
            self.pack(ref)
            r = self.cli("push", ref, "--insecure", "--retries", "2", "--chunk-bytes", "4", ok=False)  # PATCHes
            self.assertIn("HTTP 502", r.stderr)
            self.assertIn("upload of blob sha256:", r.stderr)
            self.assertIn("(after 2 retries)", r.stderr)

    def test_pushed_manifest_digest_is_checked(self):
        with Registry() as reg, FaultProxy(reg.host) as proxy:
            digest = self.pack(proxy.host + "/models/m:1")
            proxy.add_rule(Rule("PUT", "/manifests/1", "wrong_digest"))
            r = self.cli("push", proxy.host + "/models/m:1", "--insecure", ok=False)
            self.assertIn("stored manifest 1 as sha256:%s, not %s" % ("0" * 64, digest), r.stderr)

    def test_server_errors_are_retried_then_reported(self):
        with Registry() as reg, FaultProxy(reg.host) as proxy:
            digest, tok = self.pushed(reg)
            ref = proxy.host + "/models/m:1"
            proxy.add_rule(Rule("GET", "/manifests/1", "status", status=500, times=2))
            pulled = os.path.join(self.tmp, "pulled")
            self.cli("pull", ref, "--insecure", "--retries", "3", layout=pulled)
            self.assertEqual([s.status for s in proxy.served("GET", "/manifests/1")], [500, 500, 200])
            self.assertEqual(tags(pulled).get("1"), digest)
            proxy.clear()
            proxy.add_rule(Rule("GET", "/blobs/" + tok, "status", status=503))
            other = os.path.join(self.tmp, "other")
            r = self.cli("pull", ref, "--insecure", "--retries", "2", layout=other, ok=False)
            self.assertIn("HTTP 503", r.stderr)
            self.assertIn("after 2 retries", r.stderr)
            self.assertEqual(len(proxy.served("GET", "/blobs/" + tok)), 3)
            self.assert_nothing_tagged(other, tok)

    def test_lying_content_length_is_not_adopted(self):
        with Registry() as reg, FaultProxy(reg.host) as proxy:
            _, tok = self.pushed(reg)
            proxy.add_rule(Rule("GET", "/blobs/" + tok, "lie_length"))
            pulled = os.path.join(self.tmp, "pulled")
            r = self.cli("pull", proxy.host + "/models/m:1", "--insecure", "--retries", "1", layout=pulled, ok=False)
            self.assertIn(tok, r.stderr)
            self.assertIn("ended after %d of %d bytes" % (TOKENIZER_BYTES - 64, TOKENIZER_BYTES), r.stderr)
            self.assertEqual(len(proxy.served("GET", "/blobs/" + tok)), 2)  # retried once
            self.assert_nothing_tagged(pulled, tok)

    def test_flipped_bit_is_a_digest_error(self):
        with Registry() as reg, FaultProxy(reg.host) as proxy:
            _, tok = self.pushed(reg)
            proxy.add_rule(Rule("GET", "/blobs/" + tok, "flip", after=12345))
            pulled = os.path.join(self.tmp, "pulled")
            r = self.cli("pull", proxy.host + "/models/m:1", "--insecure", layout=pulled, ok=False)
            self.assertIn("hashes to", r.stderr)
            self.assertIn("not adopted", r.stderr)
            self.assert_nothing_tagged(pulled, tok)
            self.assertEqual(len(proxy.served("GET", "/blobs/" + tok)), 1)  # not retried

    def test_oversized_blob_is_a_limit_error(self):
        with Registry() as reg, FaultProxy(reg.host) as proxy:
            _, tok = self.pushed(reg)
            pulled = os.path.join(self.tmp, "pulled")
            ref = proxy.host + "/models/m:1"
            r = self.cli("pull", ref, "--insecure", "--max-blob-bytes", "100000", layout=pulled, ok=False)
            self.assertIn("over --max-blob-bytes 100000", r.stderr)
            self.assertEqual(proxy.served("GET", "/blobs/" + tok), [])
            self.assert_nothing_tagged(pulled, tok)
            proxy.add_rule(Rule("GET", "/blobs/" + tok, "pad"))  # more bytes than the descriptor says
            r = self.cli("pull", ref, "--insecure", layout=pulled, ok=False)
            self.assertIn("longer than its %d bytes" % TOKENIZER_BYTES, r.stderr)
            self.assert_nothing_tagged(pulled, tok)
            r = self.cli("pull", ref, "--insecure", "--max-manifest-bytes", "100", layout=pulled, ok=False)
            self.assertIn("--max-manifest-bytes 100", r.stderr)


if __name__ == "__main__":
    unittest.main()
