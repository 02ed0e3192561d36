"""`continuum generate-key-pair`, `sign` and `verify` against the real cosign (tools/cosign.sh builds
the pinned release from the Go module proxy into the cache, once): signatures go both ways through
Debian's docker-registry, copied between the OCI image layout and the registry by Debian's skopeo."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, MODELS
from registry import Registry

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
REPO = "models/add_sub"
TIMEOUT = 300  # one command; a bound on a hang, not a timing assertion


def cosign_binary():
    r = subprocess.run([os.path.join(ROOT, "tools", "cosign.sh")], capture_output=True, text=True, timeout=3600)
    if r.returncode != 0:
        raise RuntimeError("tools/cosign.sh failed:\n" + r.stderr)
    return r.stdout.strip().splitlines()[-1]


def blob_path(layout, digest):
    return os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1])


def read_blob(layout, digest):
    with open(blob_path(layout, digest), "rb") as f:
        return f.read()


def write_blob(layout, data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    with open(blob_path(layout, digest), "wb") as f:
        f.write(data)
    return digest


def sig_tag(digest):
    return digest.replace(":", "-") + ".sig"


def cosign_config(layer_digests):
    """The config go-containerregistry writes for cosign's signature image (signing/payload.cc)."""
    zero = "0001-01-01T00:00:00Z"
    history = ",".join('{"created":"%s"}' % zero for _ in layer_digests)
    ids = ",".join('"%s"' % d for d in layer_digests)
    return ('{"architecture":"","created":"%s","history":[%s],"os":"","rootfs":{"type":"layers","diff_ids":[%s]},'
            '"config":{}}' % (zero, history, ids)).encode()


class SigningTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.cosign_bin = cosign_binary()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="continuum-signing-")
        self.env = dict(os.environ, HOME=self.tmp, TUF_ROOT=os.path.join(self.tmp, "tuf"),
                        COSIGN_PASSWORD="test password")
        self.env.pop("SOURCE_DATE_EPOCH", None)
        self.layout = os.path.join(self.tmp, "layout")
        model = os.path.join(self.tmp, "add_sub")
        shutil.copytree(os.path.join(MODELS, "add_sub"), model)
        self.policy = os.path.join(self.tmp, "policy.json")
        with open(self.policy, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
        self.registry = Registry()
        self.registry.__enter__()
        self.addCleanup(self.registry.__exit__, None, None, None)
        self.ref = f"{self.registry.host}/{REPO}:1"
        r = self.continuum("pack", model, "-t", self.ref, "--output", self.layout, "--created-at", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.digest = r.stdout.strip()
        self.image = f"{self.registry.host}/{REPO}@{self.digest}"

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_cmd(self, argv, **kw):
        return subprocess.run(argv, capture_output=True, text=True, env=self.env, cwd=self.tmp,
                              timeout=TIMEOUT, **kw)

    def continuum(self, *args):
        return self.run_cmd([BIN, *args])

    def cosign(self, *args):
        return self.run_cmd([self.cosign_bin, *args])

    def skopeo(self, *args):
        r = self.run_cmd(["skopeo", "--policy", self.policy, *args])
        self.assertEqual(r.returncode, 0, r.stderr)

    def push(self, tag):
        self.skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", f"oci:{self.layout}:{tag}",
                    f"docker://{self.registry.host}/{REPO}:{tag}")

    def pull(self, tag):
        self.skopeo("copy", "--preserve-digests", "--dest-oci-accept-uncompressed-layers", "--src-tls-verify=false",
                    f"docker://{self.registry.host}/{REPO}:{tag}", f"oci:{self.layout}:{tag}")

    def keys(self, prefix, tool):
        if tool == "cosign":
            r = self.cosign("generate-key-pair", "--output-key-prefix", prefix)
        else:
            r = self.continuum("generate-key-pair", "--output-key-prefix", prefix)
        self.assertEqual(r.returncode, 0, r.stderr)
        return os.path.join(self.tmp, prefix + ".key"), os.path.join(self.tmp, prefix + ".pub")

    def verify(self, pub):
        return self.continuum("verify", self.ref, "--key", pub, "--layout", self.layout)

    def cosign_verify(self, pub):
        return self.cosign("verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-insecure-registry",
                           self.image)

    def signature_manifest(self):
        with open(os.path.join(self.layout, "index.json")) as f:
            index = json.load(f)
        for m in index["manifests"]:
            if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == sig_tag(self.digest):
                return m["digest"], json.loads(read_blob(self.layout, m["digest"]))
        self.fail("no signature tag in the layout")

    def test_continuum_signs_with_a_cosign_key_and_cosign_verifies(self):
        key, pub = self.keys("cosign", "cosign")
        _, other_pub = self.keys("other", "continuum")
        r = self.continuum("sign", self.ref, "--key", key, "--layout", self.layout, "-a", "team=ml")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), sig_tag(self.digest))
        r = self.verify(pub)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"Verified OK: {self.registry.host}/{REPO}@{self.digest}", r.stdout)
        self.assertIn("team=ml", r.stdout)
        self.push("1")
        self.push(sig_tag(self.digest))
        r = self.cosign_verify(pub)
        self.assertEqual(r.returncode, 0, r.stderr)
        claims = json.loads(r.stdout)
        self.assertEqual(claims[0]["critical"]["image"]["docker-manifest-digest"], self.digest)
        self.assertEqual(claims[0]["critical"]["identity"]["docker-reference"], f"{self.registry.host}/{REPO}")
        self.assertEqual(claims[0]["optional"], {"team": "ml"})
        r = self.cosign_verify(other_pub)
        self.assertNotEqual(r.returncode, 0, r.stdout)
        r = self.verify(other_pub)
        self.assertEqual(r.returncode, 1)
        self.assertIn("signed, but not by", r.stderr)

    def test_cosign_signs_with_a_continuum_key_and_continuum_verifies(self):
        key, pub = self.keys("ours", "continuum")
        _, other_pub = self.keys("other", "cosign")
        self.push("1")
        r = self.cosign("sign", "--key", key, "--tlog-upload=false", "--allow-insecure-registry", "--yes", self.image)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = self.verify(pub)
        self.assertEqual(r.returncode, 1)
        self.assertIn("unsigned", r.stderr)
        self.pull(sig_tag(self.digest))
        r = self.verify(pub)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"for {self.registry.host}/{REPO}", r.stdout)
        r = self.verify(other_pub)
        self.assertEqual(r.returncode, 1)
        self.assertIn("signed, but not by", r.stderr)
        # cosign's signature image is what continuum writes: the same config for its layers.
        _, manifest = self.signature_manifest()
        layers = [l["digest"] for l in manifest["layers"]]
        self.assertEqual(read_blob(self.layout, manifest["config"]["digest"]), cosign_config(layers))
        # Signing again appends to cosign's signature, and cosign verifies both.
        r = self.continuum("sign", self.ref, "--key", key, "--layout", self.layout)
        self.assertEqual(r.returncode, 0, r.stderr)
        _, manifest = self.signature_manifest()
        self.assertEqual([l["digest"] for l in manifest["layers"]][:1], layers)
        self.assertEqual(len(manifest["layers"]), 2)
        self.push(sig_tag(self.digest))
        r = self.cosign_verify(pub)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(json.loads(r.stdout)), 2)

    def test_tampered_payload_is_refused_by_both(self):
        key, pub = self.keys("cosign", "cosign")
        r = self.continuum("sign", self.ref, "--key", key, "--layout", self.layout)
        self.assertEqual(r.returncode, 0, r.stderr)
        manifest_digest, manifest = self.signature_manifest()
        payload = json.loads(read_blob(self.layout, manifest["layers"][0]["digest"]))
        payload["optional"] = {"tampered": "yes"}
        data = json.dumps(payload, separators=(",", ":")).encode()
        manifest["layers"][0]["digest"] = write_blob(self.layout, data)
        manifest["layers"][0]["size"] = len(data)
        raw = json.dumps(manifest, separators=(",", ":")).encode()
        new_digest = write_blob(self.layout, raw)
        with open(os.path.join(self.layout, "index.json")) as f:
            index = json.load(f)
        for m in index["manifests"]:
            if m["digest"] == manifest_digest:
                m["digest"], m["size"] = new_digest, len(raw)
        with open(os.path.join(self.layout, "index.json"), "w") as f:
            json.dump(index, f)
        r = self.verify(pub)
        self.assertEqual(r.returncode, 1)
        self.assertIn("signed, but not by", r.stderr)
        self.push("1")
        self.push(sig_tag(self.digest))
        r = self.cosign_verify(pub)
        self.assertNotEqual(r.returncode, 0, r.stdout)

    def test_signature_of_another_package_is_refused(self):
        key, pub = self.keys("cosign", "continuum")
        r = self.continuum("sign", self.ref, "--key", key, "--layout", self.layout)
        self.assertEqual(r.returncode, 0, r.stderr)
        sig_digest, _ = self.signature_manifest()
        # Package 2 (another digest) given package 1's signature under its own .sig tag.
        other = os.path.join(self.tmp, "other")
        shutil.copytree(os.path.join(MODELS, "add_sub"), other)
        with open(os.path.join(other, "README.md"), "w") as f:
            f.write("another package\n")
        ref2 = f"{self.registry.host}/{REPO}:2"
        r = self.continuum("pack", other, "-t", ref2, "--output", self.layout, "--created-at", "0")
        self.assertEqual(r.returncode, 0, r.stderr)
        digest2 = r.stdout.strip()
        with open(os.path.join(self.layout, "index.json")) as f:
            index = json.load(f)
        raw = read_blob(self.layout, sig_digest)
        index["manifests"].append({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sig_digest,
                                   "size": len(raw),
                                   "annotations": {"org.opencontainers.image.ref.name": sig_tag(digest2)}})
        with open(os.path.join(self.layout, "index.json"), "w") as f:
            json.dump(index, f)
        r = self.continuum("verify", ref2, "--key", pub, "--layout", self.layout)
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"covers {self.digest}, not {digest2}", r.stderr)
        self.assertEqual(self.verify(pub).returncode, 0)

    def test_generated_key_needs_the_password_and_is_not_overwritten(self):
        key, pub = self.keys("cosign", "continuum")
        with open(key) as f:
            self.assertTrue(f.read().startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n"))
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        r = self.continuum("generate-key-pair")
        self.assertEqual(r.returncode, 1)
        self.assertIn("not overwriting", r.stderr)
        self.env["COSIGN_PASSWORD"] = "wrong"
        r = self.continuum("sign", self.ref, "--key", key, "--layout", self.layout)
        self.assertEqual(r.returncode, 1)
        self.assertIn("wrong password", r.stderr)
        # cosign reads our key only with the right password too.
        self.push("1")
        r = self.cosign("sign", "--key", key, "--tlog-upload=false", "--allow-insecure-registry", "--yes", self.image)
        self.assertNotEqual(r.returncode, 0)


if __name__ == "__main__":
    unittest.main()
