"""Continuum packages against the tools people already use, over real registries on loopback:

- skopeo (Debian): `continuum pack` layout -> registry -> a new layout, every blob and the manifest
  byte-identical; `continuum push` -> skopeo into a layout and skopeo -> `continuum pull`, likewise.
- oras (tools/oras.sh, pinned): `oras pull` lays a Continuum package out under its files' paths
  (org.opencontainers.image.title); a folder `oras push`es is what `continuum pull` reads.

Every test runs against Debian's docker-registry (distribution 2.8) and, as a second implementation,
distribution v3 (tools/registry3.sh). A test skips only when its tool cannot exist on this machine
(no Go to build oras or the v3 registry, no skopeo, a `continuum` built without push/pull), saying so.
"""
import functools
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import registry
from harness import BIN, MODELS

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EPOCH = "1767323045"
TOOL_TIMEOUT_S = 120
# Building a Go tool the first time takes minutes; afterwards its script returns at once.
BUILD_TIMEOUT_S = 1800


def go_tool(script):
    """Runs tools/<script> (idempotent: builds the pinned tool once) and returns (path, None), or
    (None, why) when the tool cannot be built on this machine."""
    if not (shutil.which("go") or os.access("/usr/local/go/bin/go", os.X_OK)):
        return None, "Go is not installed, so tools/%s cannot build the tool here" % script
    r = subprocess.run([os.path.join(ROOT, "tools", script)], capture_output=True, text=True,
                       timeout=BUILD_TIMEOUT_S)
    if r.returncode != 0:
        raise RuntimeError("tools/%s failed (%d):\n%s" % (script, r.returncode, r.stderr[-4000:]))
    return r.stdout.strip().splitlines()[-1], None


@functools.lru_cache(maxsize=None)
def continuum_has(command):
    r = subprocess.run([BIN, command, "--help"], capture_output=True, text=True, timeout=TOOL_TIMEOUT_S)
    return "unknown command" not in r.stderr  # a known command explains itself (its exit code may be 2)


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def read_blob(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
        return f.read()


def tagged_digest(layout, tag):
    with open(os.path.join(layout, "index.json")) as f:
        index = json.load(f)
    for m in index["manifests"]:
        if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == tag:
            return m["digest"]
    raise AssertionError("%s has no tag %r: %s" % (layout, tag, index))


ORAS, ORAS_SKIP = None, None
REGISTRY3, REGISTRY3_SKIP = None, None


def setUpModule():
    global ORAS, ORAS_SKIP, REGISTRY3, REGISTRY3_SKIP
    ORAS, ORAS_SKIP = go_tool("oras.sh")
    REGISTRY3, REGISTRY3_SKIP = go_tool("registry3.sh")


class Interop:
    """The tests, run once per registry implementation (the subclasses below)."""
    impl = None

    def setUp(self):
        if not shutil.which("skopeo"):
            self.skipTest("skopeo is not installed (tools/setup.sh installs it)")
        if self.impl == "distribution3" and REGISTRY3 is None:
            self.skipTest(REGISTRY3_SKIP)
        if not registry.available(self.impl):
            self.skipTest("docker-registry is not installed (tools/setup.sh installs it)")
        self.tmp = tempfile.mkdtemp(prefix="continuum-interop-")
        self.addCleanup(shutil.rmtree, self.tmp, ignore_errors=True)
        self.reg = registry.Registry(impl=self.impl, binary=REGISTRY3 if self.impl == "distribution3" else None)
        self.addCleanup(self.reg.stop)
        self.reg.start()
        # skopeo copy asks a signature policy; this one is the test's own, not the system's.
        self.policy = os.path.join(self.tmp, "policy.json")
        with open(self.policy, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)
        # No credentials of the user's are read by skopeo or oras.
        self.env = dict(os.environ, HOME=self.tmp, DOCKER_CONFIG=os.path.join(self.tmp, "docker"),
                        REGISTRY_AUTH_FILE=os.path.join(self.tmp, "auth.json"))
        with open(self.env["REGISTRY_AUTH_FILE"], "w") as f:
            f.write('{"auths": {}}')

    def run_ok(self, argv, cwd=None):
        r = subprocess.run(argv, capture_output=True, env=self.env, cwd=cwd, timeout=TOOL_TIMEOUT_S)
        self.assertEqual(r.returncode, 0, "%s failed:\n%s%s" % (" ".join(argv), r.stdout.decode(errors="replace"),
                                                                r.stderr.decode(errors="replace")))
        return r.stdout

    def skopeo(self, *args):
        return self.run_ok(["skopeo", "--policy", self.policy, *args])

    def continuum(self, *args):
        env = dict(self.env, SOURCE_DATE_EPOCH=EPOCH)
        r = subprocess.run([BIN, *args], capture_output=True, text=True, env=env, timeout=TOOL_TIMEOUT_S)
        self.assertEqual(r.returncode, 0, "continuum %s failed:\n%s%s" % (" ".join(args), r.stdout, r.stderr))
        return r.stdout

    def oras(self, *args, cwd=None):
        if ORAS is None:
            self.skipTest(ORAS_SKIP)
        return self.run_ok([ORAS, *args, "--plain-http"], cwd=cwd)

    def pack(self, repo="models/add_sub", tag="1"):
        """Packs add_sub (with a README and config.json) into a new layout; returns (layout, digest)."""
        model = os.path.join(self.tmp, "add_sub")
        if not os.path.exists(model):
            shutil.copytree(os.path.join(MODELS, "add_sub"), model)
            with open(os.path.join(model, "config.json"), "w") as f:
                f.write('{"schema_version": 1}\n')
            with open(os.path.join(model, "README.md"), "w") as f:
                f.write("add_sub\n")
        layout = tempfile.mkdtemp(prefix="layout-", dir=self.tmp)
        digest = self.continuum("pack", model, "-t", "%s/%s:%s" % (self.reg.host, repo, tag),
                                "--output", layout).strip()
        self.assertRegex(digest, r"^sha256:[0-9a-f]{64}$")
        return layout, digest

    def assert_same_package(self, layout_a, tag_a, layout_b, tag_b):
        """The manifest tagged tag_a in layout_a and tag_b in layout_b are the same bytes, and so is
        every blob it names (config and layers), each matching its digest and size."""
        digest = tagged_digest(layout_a, tag_a)
        self.assertEqual(tagged_digest(layout_b, tag_b), digest)
        raw_a, raw_b = read_blob(layout_a, digest), read_blob(layout_b, digest)
        self.assertEqual(raw_a, raw_b)
        self.assertEqual(sha256(raw_a), digest)
        manifest = json.loads(raw_a)
        for d in [manifest["config"]] + manifest["layers"]:
            a, b = read_blob(layout_a, d["digest"]), read_blob(layout_b, d["digest"])
            self.assertEqual(a, b, d)
            self.assertEqual((sha256(a), len(a)), (d["digest"], d["size"]))
        return manifest

    def remote(self, repo, tag):
        return "%s/%s:%s" % (self.reg.host, repo, tag)

    # --- skopeo ------------------------------------------------------------------------------

    def test_skopeo_round_trip_through_the_registry_is_byte_exact(self):
        layout, digest = self.pack()
        ref = self.remote("models/add_sub", "1")
        self.skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "oci:%s:1" % layout, "docker://" + ref)
        raw = self.skopeo("inspect", "--raw", "--tls-verify=false", "docker://" + ref)
        self.assertEqual(sha256(raw), digest)
        back = os.path.join(self.tmp, "back")
        self.skopeo("copy", "--preserve-digests", "--src-tls-verify=false", "docker://" + ref, "oci:%s:1" % back)
        manifest = self.assert_same_package(layout, "1", back, "1")
        self.assertEqual(manifest["artifactType"], "application/vnd.cncf.model.manifest.v1+json")
        self.assertEqual(len(manifest["layers"]), 4)

    def test_continuum_push_then_skopeo_copy_is_byte_exact(self):
        if not continuum_has("push"):
            self.skipTest("this continuum has no push command")
        layout, digest = self.pack()
        ref = self.remote("models/add_sub", "1")
        self.continuum("push", ref, "--layout", layout, "--insecure")
        back = os.path.join(self.tmp, "back")
        self.skopeo("copy", "--preserve-digests", "--src-tls-verify=false", "docker://" + ref, "oci:%s:1" % back)
        self.assert_same_package(layout, "1", back, "1")

    def test_skopeo_copy_then_continuum_pull_is_byte_exact(self):
        if not continuum_has("pull"):
            self.skipTest("this continuum has no pull command")
        layout, digest = self.pack()
        ref = self.remote("models/add_sub", "1")
        self.skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "oci:%s:1" % layout, "docker://" + ref)
        pulled = os.path.join(self.tmp, "pulled")
        self.continuum("pull", ref, "--layout", pulled, "--insecure")
        self.assert_same_package(layout, "1", pulled, "1")

    # --- oras --------------------------------------------------------------------------------

    def push_package(self, layout, ref):
        """Puts the layout's tag "1" on the registry: with `continuum push` when this build has it,
        else with skopeo (a byte-exact copy, as the test above shows)."""
        if continuum_has("push"):
            self.continuum("push", ref, "--layout", layout, "--insecure")
        else:
            self.skopeo("copy", "--preserve-digests", "--dest-tls-verify=false", "oci:%s:1" % layout,
                        "docker://" + ref)

    def test_oras_pull_lays_the_files_out_under_their_paths(self):
        if ORAS is None:
            self.skipTest(ORAS_SKIP)
        layout, digest = self.pack()
        ref = self.remote("models/add_sub", "1")
        self.push_package(layout, ref)
        out = os.path.join(self.tmp, "oras-out")
        self.oras("pull", "-o", out, ref)
        manifest = json.loads(read_blob(layout, digest))
        titles = sorted(l["annotations"]["org.opencontainers.image.title"] for l in manifest["layers"])
        self.assertEqual(titles, ["1/model.onnx", "README.md", "config.json", "continuum-package.json"])
        found = sorted(os.path.relpath(os.path.join(d, f), out) for d, _, fs in os.walk(out) for f in fs)
        self.assertEqual(found, titles)
        for layer in manifest["layers"]:
            with open(os.path.join(out, layer["annotations"]["org.opencontainers.image.title"]), "rb") as f:
                self.assertEqual(f.read(), read_blob(layout, layer["digest"]))
        with open(os.path.join(self.tmp, "add_sub", "1", "model.onnx"), "rb") as f:
            with open(os.path.join(out, "1", "model.onnx"), "rb") as g:
                self.assertEqual(f.read(), g.read())

    def test_oras_push_of_a_folder_is_what_continuum_pull_reads(self):
        if ORAS is None:
            self.skipTest(ORAS_SKIP)
        if not continuum_has("pull"):
            self.skipTest("this continuum has no pull command")
        folder = os.path.join(self.tmp, "files")
        os.makedirs(os.path.join(folder, "1"))
        files = {"README.md": b"pushed by oras\n", "1/weights.bin": bytes(range(256)) * 4096}
        for path, data in files.items():
            with open(os.path.join(folder, path), "wb") as f:
                f.write(data)
        ref = self.remote("models/from_oras", "7")
        out = json.loads(self.oras("push", "--format", "json", ref, *sorted(files), cwd=folder))
        digest = out["digest"]
        pulled = os.path.join(self.tmp, "pulled")
        self.continuum("pull", ref, "--layout", pulled, "--insecure")
        self.assertEqual(tagged_digest(pulled, "7"), digest)
        manifest = json.loads(read_blob(pulled, digest))
        self.assertEqual(sha256(read_blob(pulled, digest)), digest)
        self.assertEqual(manifest["artifactType"], "application/vnd.unknown.artifact.v1")
        got = {l["annotations"]["org.opencontainers.image.title"]: read_blob(pulled, l["digest"])
               for l in manifest["layers"]}
        self.assertEqual(got, files)
        config = read_blob(pulled, manifest["config"]["digest"])
        self.assertEqual((sha256(config), len(config)), (manifest["config"]["digest"], manifest["config"]["size"]))


class DockerRegistry28Test(Interop, unittest.TestCase):
    """Debian's docker-registry (distribution 2.8.2)."""
    impl = "docker-registry"


class Distribution3Test(Interop, unittest.TestCase):
    """distribution v3 (tools/registry3.sh), a second implementation of the same spec."""
    impl = "distribution3"


if __name__ == "__main__":
    unittest.main()
