"""`continuum install`: pack -> sign -> install -> serve, each refusal with nothing written, a full
disk, and `kill -9` during installs while a poll-mode server answers (every answer from the complete
old or the complete new package).

CONTINUUM_INSTALL_KILL_ITERATIONS sets how many installs the kill test interrupts (default 5;
`make soak-packages` runs 200)."""
import hashlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import unittest

from harness import BIN, MODELS, Server, infer_body, metric

REPO_NAME = "localhost:5000/models/add_sub"
ADD = infer_body([("INPUT0", "FP32", [1, 16], [1.0] * 16), ("INPUT1", "FP32", [1, 16], [2.0] * 16)])
KILL_ITERATIONS = int(os.environ.get("CONTINUUM_INSTALL_KILL_ITERATIONS", "5"))
WEIGHTS = 32 << 20  # a data file large enough that a kill can land while it is copied
POLL = ("--model-control-mode", "poll", "--repository-poll-secs", "1")


def run(*args, env=None):
    e = dict(os.environ)
    e["COSIGN_PASSWORD"] = ""
    e.update(env or {})
    return subprocess.run([BIN, *args], capture_output=True, text=True, env=e, timeout=300)


def tree(root):
    """Every path under `root` with its kind (and a symlink's target): what a refused install must not change."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            if os.path.islink(p):
                out[rel] = "-> " + os.readlink(p)
            elif os.path.isdir(p):
                out[rel] = "dir"
            else:
                with open(p, "rb") as f:
                    out[rel] = hashlib.sha256(f.read()).hexdigest()
    return out


def answers_add(out):
    """add_sub's whole answer to ADD: OUTPUT0 = 1 + 2, OUTPUT1 = 1 - 2."""
    data = {o["name"]: o["data"] for o in out["outputs"]}
    return data == {"OUTPUT0": [3.0] * 16, "OUTPUT1": [-1.0] * 16}


class Packages:
    """A scratch folder with an OCI layout, a model repository and two cosign key pairs."""

    def __init__(self, test):
        self.tmp = tempfile.mkdtemp(prefix="continuum-install-")
        test.addCleanup(shutil.rmtree, self.tmp, True)
        self.layout = os.path.join(self.tmp, "layout")
        self.repo = os.path.join(self.tmp, "repo")
        os.makedirs(self.repo)
        for name in ("signer", "other"):
            r = run("generate-key-pair", "--output-key-prefix", os.path.join(self.tmp, name))
            test.assertEqual(r.returncode, 0, r.stderr)
        self.test = test

    def key(self, name="signer"):
        return os.path.join(self.tmp, name + ".pub")

    def model(self, tag, versions, weights_bytes=0):
        """An add_sub model folder holding `versions`, and a data file of `weights_bytes` in the first."""
        d = os.path.join(self.tmp, "src-" + tag, "add_sub")
        for v in versions:
            os.makedirs(os.path.join(d, str(v)))
            shutil.copy(os.path.join(MODELS, "add_sub", "1", "model.onnx"), os.path.join(d, str(v), "model.onnx"))
        with open(os.path.join(d, "config.json"), "w") as f:
            f.write('{"schema_version": 1}\n')
        if weights_bytes:
            with open(os.path.join(d, str(versions[0]), "weights.bin"), "wb") as f:
                f.write(bytes(range(256)) * (weights_bytes // 256))
        return d

    def pack(self, tag, versions=(1,), weights_bytes=0, epoch="1767323045", sign="signer"):
        r = run("pack", self.model(tag, versions, weights_bytes), "-t", REPO_NAME + ":" + tag, "--output", self.layout,
                "--created-at", epoch)
        self.test.assertEqual(r.returncode, 0, r.stderr)
        shutil.rmtree(os.path.join(self.tmp, "src-" + tag))  # the layout holds the bytes now
        if sign:
            s = run("sign", REPO_NAME + ":" + tag, "--key", os.path.join(self.tmp, sign + ".key"), "--layout",
                    self.layout)
            self.test.assertEqual(s.returncode, 0, s.stderr)
        return r.stdout.strip()

    def install_argv(self, tag, *extra, key=None, repo=None):
        return [BIN, "install", REPO_NAME + ":" + tag, "--layout", self.layout, "--model-repository",
                repo or self.repo, "--key", key or self.key(), *extra]

    def install(self, tag, *extra, key=None, repo=None):
        return subprocess.run(self.install_argv(tag, *extra, key=key, repo=repo), capture_output=True, text=True,
                              timeout=300)

    def blob_path(self, digest):
        return os.path.join(self.layout, "blobs", "sha256", digest.split(":", 1)[1])

    def manifest(self, tag):
        with open(os.path.join(self.layout, "index.json")) as f:
            index = json.load(f)
        entry = [m for m in index["manifests"] if m["annotations"]["org.opencontainers.image.ref.name"] == tag][0]
        with open(self.blob_path(entry["digest"])) as f:
            return json.load(f)

    def layer(self, tag, filepath):
        return [l for l in self.manifest(tag)["layers"] if l["annotations"]["org.cncf.model.filepath"] == filepath][0]

    def put_blob(self, data):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(self.blob_path(digest), "wb") as f:
            f.write(data)
        return digest, len(data)

    def rewrite(self, tag, change):
        """Replaces the manifest tagged `tag` by change(manifest)'s (its signature no longer matches)."""
        manifest = self.manifest(tag)
        change(manifest)
        digest, size = self.put_blob(json.dumps(manifest, separators=(",", ":")).encode())
        path = os.path.join(self.layout, "index.json")
        with open(path) as f:
            index = json.load(f)
        for m in index["manifests"]:
            if m["annotations"]["org.opencontainers.image.ref.name"] == tag:
                m["digest"], m["size"] = digest, size
        with open(path, "w") as f:
            json.dump(index, f)


class InstallTest(unittest.TestCase):
    def setUp(self):
        self.p = Packages(self)

    def installed_digest(self):
        with open(os.path.join(self.p.repo, "add_sub", ".continuum-install.json")) as f:
            return json.load(f)["digest"]

    def test_packed_signed_installed_and_served_then_a_second_version(self):
        first = self.p.pack("1")
        r = self.p.install("1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.split(), ["add_sub", first])
        self.assertEqual(os.readlink(os.path.join(self.p.repo, "add_sub")), ".packages/add_sub@sha256-" + first[7:] + "-default")
        with Server(self.p.repo, *POLL) as s:
            status, out, _ = s.post("/v2/models/add_sub/infer", ADD)
            self.assertEqual(status, 200, out)
            self.assertEqual(out["model_version"], "1")
            self.assertTrue(answers_add(out), out)
            package = s.get("/v2/models/add_sub/config")[1]["package"]
            self.assertEqual(package["reference"], REPO_NAME + ":1")
            self.assertEqual(package["digest"], first)
            self.assertEqual(package["variant"], "default")
            self.assertEqual(package["created_at"], "2026-01-02T03:04:05Z")
            self.assertEqual(metric(s, "continuum_model_package_info", model="add_sub", version="1", digest=first,
                                    reference=REPO_NAME + ":1", variant="default"), 1)

            second = self.p.pack("2", versions=(2,))
            r = self.p.install("2")
            self.assertEqual(r.returncode, 0, r.stderr)
            s.wait(lambda: s.post("/v2/models/add_sub/infer", ADD)[1].get("model_version") == "2", what="version 2")
            s.wait(lambda: s.get("/v2/models/add_sub/config")[1]["package"]["digest"] == second, what="provenance")
            self.assertEqual(metric(s, "continuum_model_package_info", model="add_sub", version="2", digest=second), 1)
        # The previous package stays (a rollback target); the staging area is empty.
        self.assertEqual(sorted(os.listdir(os.path.join(self.p.repo, ".packages"))),
                         sorted(["add_sub@sha256-%s-default" % d[7:] for d in (first, second)]))

    def assert_refused(self, result, *fragments, before=None):
        self.assertEqual(result.returncode, 1, result.stderr)
        for fragment in fragments:
            self.assertIn(fragment, result.stderr)
        self.assertEqual(tree(self.p.repo), before if before is not None else {})

    def test_an_unsigned_package_is_refused(self):
        self.p.pack("1", sign=None)
        self.assert_refused(self.p.install("1"), "unsigned")

    def test_a_package_signed_by_another_key_is_refused(self):
        self.p.pack("1")
        self.assert_refused(self.p.install("1", key=self.p.key("other")), "signed, but not by")

    def test_a_bit_flipped_blob_is_refused(self):
        self.p.pack("1")
        path = self.p.blob_path(self.p.layer("1", "1/model.onnx")["digest"])
        with open(path, "r+b") as f:
            b = f.read(1)
            f.seek(0)
            f.write(bytes([b[0] ^ 1]))
        self.assert_refused(self.p.install("1"), "is corrupt")

    def test_a_truncated_blob_is_refused(self):
        self.p.pack("1")
        path = self.p.blob_path(self.p.layer("1", "1/model.onnx")["digest"])
        os.truncate(path, os.path.getsize(path) // 2)
        self.assert_refused(self.p.install("1"), "bytes, the manifest says")

    def test_a_missing_file_is_refused(self):
        self.p.pack("1")
        os.remove(self.p.blob_path(self.p.layer("1", "config.json")["digest"]))
        self.assert_refused(self.p.install("1"), "is missing")

    def test_paths_that_leave_the_package_are_refused(self):
        self.p.pack("1")
        for bad in ("../escape.onnx", "/etc/escape.onnx", "1/../../escape.onnx"):
            with self.subTest(path=bad):
                def change(m, bad=bad):
                    m["layers"][0]["annotations"]["org.cncf.model.filepath"] = bad
                self.p.rewrite("1", change)
                self.assert_refused(self.p.install("1"), "a path that leaves the package")
                self.assertFalse(os.path.exists(os.path.join(self.p.tmp, "escape.onnx")))

    def test_a_symlink_in_the_layout_is_refused(self):
        self.p.pack("1")
        path = self.p.blob_path(self.p.layer("1", "1/model.onnx")["digest"])
        shutil.move(path, os.path.join(self.p.tmp, "elsewhere"))
        os.symlink(os.path.join(self.p.tmp, "elsewhere"), path)
        self.assert_refused(self.p.install("1"), "symlink")

    def test_a_config_without_the_modelpack_schema_is_refused(self):
        self.p.pack("1")

        def change(m):
            with open(self.p.blob_path(m["config"]["digest"])) as f:
                config = json.load(f)
            del config["modelfs"]
            m["config"]["digest"], m["config"]["size"] = self.p.put_blob(json.dumps(config).encode())
        self.p.rewrite("1", change)
        self.assert_refused(self.p.install("1"), "ModelPack config schema")

    def test_an_older_package_is_refused_unless_downgrades_are_allowed(self):
        self.p.pack("1")
        newer = self.p.pack("2", versions=(2,))
        self.assertEqual(self.p.install("2").returncode, 0)
        before = tree(self.p.repo)
        self.assert_refused(self.p.install("1"), "is older than " + REPO_NAME + ":2", "--allow-downgrade",
                            before=before)
        self.assertEqual(self.installed_digest(), newer)
        r = self.p.install("1", "--allow-downgrade")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(os.path.exists(os.path.join(self.p.repo, "add_sub", "1", "model.onnx")))

    def test_the_key_is_required(self):
        self.p.pack("1")
        r = subprocess.run([BIN, "install", REPO_NAME + ":1", "--layout", self.p.layout, "--model-repository",
                            self.p.repo], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("give --key", r.stderr)
        self.assertEqual(tree(self.p.repo), {})


class InstallFaultTest(unittest.TestCase):
    def setUp(self):
        self.p = Packages(self)

    def test_a_full_disk_leaves_the_old_package_served(self):
        small = os.path.join(self.p.tmp, "small")
        os.makedirs(small)
        # A 2 MiB file system for the repository (a tmpfs; needs root, as the test runs in CI).
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", small], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a small tmpfs here: " + r.stderr.strip())
        self.addCleanup(subprocess.run, ["umount", "-l", small])
        old = self.p.pack("1")
        self.assertEqual(self.p.install("1", repo=small).returncode, 0)
        self.p.pack("2", versions=(2,), weights_bytes=4 << 20)
        with Server(small, *POLL) as s:
            before = tree(small)
            r = self.p.install("2", repo=small)
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("No space left on device", r.stderr)
            self.assertEqual(tree(small), before)  # the staging folder is gone too
            status, out, _ = s.post("/v2/models/add_sub/infer", ADD)
            self.assertEqual((status, out["model_version"]), (200, "1"), out)
            self.assertEqual(s.get("/v2/models/add_sub/config")[1]["package"]["digest"], old)

    def test_kill_during_install_never_serves_a_mix(self):
        """Installs interrupted by SIGKILL at varying points while a poll-mode server answers. Each
        iteration installs a new package (version 2, then 1, ...), so each one unpacks; every
        fourth one completes."""
        digests = {"0": self.p.pack("0", versions=(1,), weights_bytes=WEIGHTS)}
        self.assertEqual(self.p.install("0").returncode, 0)
        packages = os.path.join(self.p.repo, ".packages")
        with Server(self.p.repo, *POLL) as s:
            bad, seen, stop = [], {}, threading.Event()

            def ask():
                conn = s.conn()
                while not stop.is_set():
                    status, data, _ = s.request("POST", "/v2/models/add_sub/infer", ADD, conn=conn)
                    out = json.loads(data)
                    if status == 503:  # a version being unloaded: not an answer, asked again
                        continue
                    if status != 200 or out["model_version"] not in ("1", "2") or not answers_add(out):
                        bad.append((status, out))
                    else:
                        seen[out["model_version"]] = seen.get(out["model_version"], 0) + 1

            asker = threading.Thread(target=ask)
            asker.start()
            try:
                for i in range(1, KILL_ITERATIONS + 1):
                    tag = str(i)
                    digests[tag] = self.p.pack(tag, versions=(2,) if i % 2 else (1,), weights_bytes=WEIGHTS,
                                               epoch=str(1767323045 + i))
                    self.kill_install(tag, digests[tag], mode=i % 4, packages=packages)
                    # REPO/add_sub is always a complete package: its record and every file it lists.
                    self.assert_complete(digests)
                last = str(KILL_ITERATIONS + 1)
                digests[last] = self.p.pack(last, versions=(2,), epoch=str(1767323045 + KILL_ITERATIONS + 1))
                r = self.p.install(last, "--allow-downgrade")
                self.assertEqual(r.returncode, 0, r.stderr)
                s.wait(lambda: s.get("/v2/models/add_sub/config")[1]["package"]["digest"] == digests[last] and
                       s.post("/v2/models/add_sub/infer", ADD)[1].get("model_version") == "2",
                       timeout=120, what="the final install served")
            finally:
                stop.set()
                asker.join()
        self.assertEqual(bad, [])
        self.assertEqual(sorted(seen), ["1", "2"])
        leftovers = [n for n in os.listdir(self.p.repo) + os.listdir(packages) if n.startswith((".staging-",
                                                                                                 ".continuum-link-"))]
        self.assertEqual(leftovers, [])
        self.assertLessEqual(len(os.listdir(packages)), 2)

    def kill_install(self, tag, digest, mode, packages):
        """Starts installing `tag` and kills it: at once (mode 0), once unpacking has begun (1), or
        once its package folder is in place (2); mode 3 lets it finish (the server then switches
        while it answers). An install that finished first is not killed."""
        proc = subprocess.Popen(self.p.install_argv(tag, "--allow-downgrade"), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        wanted = {1: lambda names: any(n.startswith(".staging-") for n in names),
                  2: lambda names: "add_sub@sha256-%s-default" % digest[7:] in names}.get(mode)
        deadline = time.monotonic() + 120  # an upper bound, never reached unless install hangs
        while wanted and proc.poll() is None and not wanted(os.listdir(packages)):
            self.assertLess(time.monotonic(), deadline, "install never reached the kill point")
            time.sleep(0.001)
        if mode == 3:
            self.assertEqual(proc.wait(), 0)
            return
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def assert_complete(self, digests):
        model = os.path.join(self.p.repo, "add_sub")
        with open(os.path.join(model, ".continuum-install.json")) as f:
            digest = json.load(f)["digest"]
        tag = [t for t, d in digests.items() if d == digest][0]
        for layer in self.p.manifest(tag)["layers"]:
            with open(os.path.join(model, layer["annotations"]["org.cncf.model.filepath"]), "rb") as f:
                self.assertEqual("sha256:" + hashlib.sha256(f.read()).hexdigest(), layer["digest"])


if __name__ == "__main__":
    unittest.main()
