"""`continuum pack` writes a CNCF ModelPack artifact into an OCI image layout: deterministic digests,
clear errors, and a layout that Debian's skopeo reads and copies byte for byte."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, MODELS

REF = "localhost:5000/models/add_sub:1"
EPOCH = "1767323045"  # 2026-01-02T03:04:05Z


def pack(*args, env_epoch=EPOCH):
    env = dict(os.environ)
    env.pop("SOURCE_DATE_EPOCH", None)
    if env_epoch is not None:
        env["SOURCE_DATE_EPOCH"] = env_epoch
    return subprocess.run([BIN, "pack", *args], capture_output=True, text=True, env=env, timeout=120)


def blob(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
        return f.read()


class PackTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="continuum-pack-")
        self.model = os.path.join(self.tmp, "add_sub")
        shutil.copytree(os.path.join(MODELS, "add_sub"), self.model)
        with open(os.path.join(self.model, "config.json"), "w") as f:
            f.write('{"schema_version": 1}\n')
        with open(os.path.join(self.model, "README.md"), "w") as f:
            f.write("add_sub\n")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def pack_ok(self, layout, *extra, env_epoch=EPOCH):
        r = pack(self.model, "-t", REF, "--output", layout, *extra, env_epoch=env_epoch)
        self.assertEqual(r.returncode, 0, r.stderr)
        digest = r.stdout.strip()
        self.assertRegex(digest, r"^sha256:[0-9a-f]{64}$")
        return digest

    def test_layout_holds_the_modelpack_manifest(self):
        layout = os.path.join(self.tmp, "layout")
        digest = self.pack_ok(layout)
        with open(os.path.join(layout, "oci-layout")) as f:
            self.assertEqual(json.load(f), {"imageLayoutVersion": "1.0.0"})
        with open(os.path.join(layout, "index.json")) as f:
            index = json.load(f)
        self.assertEqual(index["manifests"][0]["digest"], digest)
        self.assertEqual(index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"], "1")
        raw = blob(layout, digest)
        self.assertEqual("sha256:" + hashlib.sha256(raw).hexdigest(), digest)
        manifest = json.loads(raw)
        self.assertEqual(manifest["schemaVersion"], 2)
        self.assertEqual(manifest["mediaType"], "application/vnd.oci.image.manifest.v1+json")
        self.assertEqual(manifest["artifactType"], "application/vnd.cncf.model.manifest.v1+json")
        self.assertEqual(manifest["config"]["mediaType"], "application/vnd.cncf.model.config.v1+json")
        files = {l["annotations"]["org.cncf.model.filepath"]: l for l in manifest["layers"]}
        self.assertEqual(sorted(files), ["1/model.onnx", "README.md", "config.json", "continuum-package.json"])
        self.assertEqual(files["1/model.onnx"]["mediaType"], "application/vnd.cncf.model.weight.v1.raw")
        self.assertEqual(files["README.md"]["mediaType"], "application/vnd.cncf.model.doc.v1.raw")
        self.assertEqual(files["config.json"]["mediaType"], "application/vnd.cncf.model.weight.config.v1.raw")
        for path, layer in files.items():
            self.assertEqual(layer["annotations"]["org.opencontainers.image.title"], path)
            data = blob(layout, layer["digest"])
            self.assertEqual(len(data), layer["size"])
            if path != "continuum-package.json":
                with open(os.path.join(self.model, path), "rb") as f:
                    self.assertEqual(data, f.read())
        runtime = json.loads(blob(layout, files["continuum-package.json"]["digest"]))
        self.assertEqual(runtime["reference"], REF)
        self.assertEqual([i["name"] for i in runtime["models"][0]["versions"][0]["inputs"]], ["INPUT0", "INPUT1"])
        config = json.loads(blob(layout, manifest["config"]["digest"]))
        self.assertEqual(config["descriptor"]["createdAt"], "2026-01-02T03:04:05Z")
        self.assertEqual(config["modelfs"]["diffIds"], [l["digest"] for l in manifest["layers"]])

    def test_packing_twice_gives_the_same_digest(self):
        first = self.pack_ok(os.path.join(self.tmp, "a"))
        again = self.pack_ok(os.path.join(self.tmp, "a"))
        elsewhere = self.pack_ok(os.path.join(self.tmp, "b"), "--created-at", EPOCH, env_epoch=None)
        self.assertEqual(first, again)
        self.assertEqual(first, elsewhere)
        later = self.pack_ok(os.path.join(self.tmp, "c"), env_epoch=str(int(EPOCH) + 1))
        self.assertNotEqual(first, later)
        with open(os.path.join(self.tmp, "a", "index.json")) as f:
            self.assertEqual(len(json.load(f)["manifests"]), 1)

    def test_errors_are_clear(self):
        layout = os.path.join(self.tmp, "layout")
        r = pack(os.path.join(self.tmp, "missing"), "-t", REF, "--output", layout)
        self.assertEqual(r.returncode, 2)
        self.assertIn("is not a folder", r.stderr)
        os.makedirs(os.path.join(self.tmp, "empty"))
        r = pack(os.path.join(self.tmp, "empty"), "-t", REF, "--output", layout)
        self.assertEqual(r.returncode, 1)
        self.assertIn("no model", r.stderr)
        broken = os.path.join(self.tmp, "broken", "1")
        os.makedirs(broken)
        with open(os.path.join(broken, "model.onnx"), "w") as f:
            f.write("not onnx")
        r = pack(os.path.dirname(broken), "-t", REF, "--output", layout)
        self.assertEqual(r.returncode, 1)
        self.assertIn("1/model.onnx does not load", r.stderr)
        os.mkfifo(os.path.join(self.model, "pipe.txt"))
        r = pack(self.model, "-t", REF, "--output", layout)
        self.assertEqual(r.returncode, 1)
        self.assertIn("'pipe.txt' is not a regular file", r.stderr)
        os.remove(os.path.join(self.model, "pipe.txt"))
        r = pack(self.model, "--output", layout)
        self.assertEqual(r.returncode, 2)
        self.assertIn("give -t REF", r.stderr)
        r = pack(self.model, "-t", "repo@sha256:00", "--output", layout)
        self.assertEqual(r.returncode, 2)
        self.assertIn("names a digest", r.stderr)
        r = pack(self.model, "-t", REF, "--output", layout, env_epoch="yesterday")
        self.assertEqual(r.returncode, 2)
        self.assertIn("not a number of seconds", r.stderr)
        self.assertFalse(os.path.exists(layout), "nothing is written on an error")


    def test_a_catalog_entry_packs_with_its_models(self):
        repo = os.path.join(self.tmp, "models")
        shutil.copytree(self.model, os.path.join(repo, "add_sub"))
        entry = os.path.join(self.tmp, "catalog", "add")
        os.makedirs(entry)
        with open(os.path.join(entry, "catalog.json"), "w") as f:
            json.dump({"schema_version": 1, "name": "@local/add", "task": "text-classification",
                       "models": {"model": "add_sub"}, "settings": {"labels": "labels.txt"}}, f)
        with open(os.path.join(entry, "labels.txt"), "w") as f:
            f.write("a\nb\n")
        layout = os.path.join(self.tmp, "layout")
        r = pack(entry, "-t", "localhost:5000/catalog/add:1", "--output", layout)
        self.assertEqual(r.returncode, 2)
        self.assertIn("is a catalog entry: give --model-repository", r.stderr)
        r = pack(entry, "-t", "localhost:5000/catalog/add:1", "--output", layout, "--model-repository", repo)
        self.assertEqual(r.returncode, 0, r.stderr)
        manifest = json.loads(blob(layout, r.stdout.strip()))
        paths = [l["annotations"]["org.cncf.model.filepath"] for l in manifest["layers"]]
        self.assertEqual(paths, ["catalog/catalog.json", "catalog/labels.txt", "continuum-package.json",
                                 "models/add_sub/1/model.onnx", "models/add_sub/README.md",
                                 "models/add_sub/config.json"])
        runtime = json.loads(blob(layout, manifest["layers"][2]["digest"]))
        self.assertEqual(runtime["task"], "text-classification")
        self.assertEqual(runtime["catalog"], {"name": "@local/add", "models": {"model": "add_sub"}})

@unittest.skipUnless(shutil.which("skopeo"), "skopeo not installed (tools/setup.sh installs it)")
class SkopeoTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="continuum-pack-skopeo-")
        model = os.path.join(self.tmp, "add_sub")
        shutil.copytree(os.path.join(MODELS, "add_sub"), model)
        self.layout = os.path.join(self.tmp, "layout")
        r = pack(model, "-t", REF, "--output", self.layout)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.digest = r.stdout.strip()
        # skopeo copy asks a signature policy; this one is the test's own, not the system's.
        self.policy = os.path.join(self.tmp, "policy.json")
        with open(self.policy, "w") as f:
            json.dump({"default": [{"type": "insecureAcceptAnything"}]}, f)

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def skopeo(self, *args):
        r = subprocess.run(["skopeo", "--policy", self.policy, *args], capture_output=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        return r.stdout

    def test_skopeo_reads_the_manifest_and_config(self):
        raw = self.skopeo("inspect", "--raw", f"oci:{self.layout}:1")
        self.assertEqual("sha256:" + hashlib.sha256(raw).hexdigest(), self.digest)
        self.assertEqual(json.loads(raw)["artifactType"], "application/vnd.cncf.model.manifest.v1+json")
        config = json.loads(self.skopeo("inspect", "--config", "--raw", f"oci:{self.layout}:1"))
        self.assertEqual(config["config"]["format"], "onnx")
        self.assertEqual(config["modelfs"]["type"], "layers")

    def test_skopeo_copy_round_trips_byte_exact(self):
        copy = os.path.join(self.tmp, "copy")
        self.skopeo("copy", f"oci:{self.layout}:1", f"oci:{copy}:1")
        raw = self.skopeo("inspect", "--raw", f"oci:{copy}:1")
        self.assertEqual("sha256:" + hashlib.sha256(raw).hexdigest(), self.digest)
        with open(os.path.join(copy, "index.json")) as f:
            self.assertEqual(json.load(f)["manifests"][0]["digest"], self.digest)
        for name in os.listdir(os.path.join(self.layout, "blobs", "sha256")):
            with open(os.path.join(self.layout, "blobs", "sha256", name), "rb") as a, \
                    open(os.path.join(copy, "blobs", "sha256", name), "rb") as b:
                self.assertEqual(a.read(), b.read(), name)


if __name__ == "__main__":
    unittest.main()
