"""Package variants end to end: ONNX Runtime's own quantization tool (tools/quantize.sh, pinned in
tools/quantize.txt) makes int8 and fp16 variants of the generated MLP, `continuum pack` packs
them beside the fp32 one (loading each with our ONNX Runtime), and `continuum inspect --hardware`
shows the variant a node would install flip with its CPU features and execution providers, with
the reasons; bad requirements are refused clearly."""
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, MODELS

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
QUANTIZE = os.path.join(ROOT, "tools", "quantize.sh")
REF = "localhost:5000/models/mlp:1"
EPOCH = "1767323045"
VARIANTS = {"variants": [
    {"name": "fp16", "precision": "fp16", "requires": {"execution_providers": ["cuda"], "memory_mb": 2048}},
    {"name": "int8", "precision": "int8", "requires": {"cpu_architecture": "x86_64",
                                                        "cpu_features": ["avx512_vnni"]}},
    {"name": "fp32", "precision": "fp32"},
]}
VNNI = "cpu_architecture=x86_64;cpu_features=avx2,avx512_vnni;execution_providers=cpu;memory_mb=8192"
AVX2 = "cpu_architecture=x86_64;cpu_features=avx2,fma;execution_providers=cpu;memory_mb=8192"
GPU = "cpu_architecture=x86_64;cpu_features=avx2,avx512_vnni;execution_providers=cpu,cuda;memory_mb=8192"


def run(*args, **kw):
    env = dict(os.environ, SOURCE_DATE_EPOCH=EPOCH)
    return subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=600, **kw)


def sha256(path):
    with open(path, "rb") as f:
        return "sha256:" + hashlib.sha256(f.read()).hexdigest()


class VariantsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="continuum-variants-")
        cls.model = os.path.join(cls.tmp, "mlp")
        fp32 = os.path.join(cls.model, "variants", "fp32", "1", "model.onnx")
        os.makedirs(os.path.dirname(fp32))
        shutil.copy(os.path.join(MODELS, "mlp", "1", "model.onnx"), fp32)
        for kind in ("int8", "fp16"):
            out = os.path.join(cls.model, "variants", kind, "1", "model.onnx")
            r = run(QUANTIZE, kind, fp32, out)
            if r.returncode != 0:
                raise AssertionError("tools/quantize.sh %s failed:\n%s%s" % (kind, r.stdout, r.stderr))
        with open(os.path.join(cls.model, "config.json"), "w") as f:
            f.write('{"schema_version": 1}\n')
        with open(os.path.join(cls.model, "variants.json"), "w") as f:
            json.dump(VARIANTS, f)
        cls.layout = os.path.join(cls.tmp, "layout")
        r = run(BIN, "pack", cls.model, "-t", REF, "--output", cls.layout)
        if r.returncode != 0:
            raise AssertionError("pack failed:\n" + r.stderr)
        cls.digest = r.stdout.strip()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def inspect(self, *args, code=0):
        r = run(BIN, "inspect", REF, "--layout", self.layout, *args)
        self.assertEqual(r.returncode, code, r.stdout + r.stderr)
        return r

    def inspect_json(self, hardware, code=0):
        return json.loads(self.inspect("--hardware", hardware, "--json", code=code).stdout)

    def test_the_quantized_model_is_int8(self):
        # quantize_dynamic rewrote the Gemms as MatMulInteger over int8 weights: about a quarter
        # of the fp32 file (plus scales), the fp16 one about half.
        sizes = {v: os.path.getsize(os.path.join(self.model, "variants", v, "1", "model.onnx"))
                 for v in ("fp32", "int8", "fp16")}
        self.assertLess(sizes["int8"], sizes["fp32"] * 0.3)
        self.assertLess(sizes["fp16"], sizes["fp32"] * 0.55)
        with open(os.path.join(self.model, "variants", "int8", "1", "model.onnx"), "rb") as f:
            self.assertIn(b"MatMulInteger", f.read())

    def test_manifest_records_each_variants_files_and_requirements(self):
        j = self.inspect_json(AVX2)
        self.assertEqual(j["manifest_digest"], self.digest)
        self.assertEqual([v["name"] for v in j["variants"]], ["fp16", "int8", "fp32"])
        int8 = j["variants"][1]
        self.assertEqual(int8["precision"], "int8")
        self.assertEqual(int8["requires"]["cpu_features"], ["avx512_vnni"])
        self.assertEqual(int8["files"], ["variants/int8/1/model.onnx"])
        self.assertEqual(j["variants"][0]["requires"]["execution_providers"], ["cuda"])
        self.assertEqual(j["variants"][0]["requires"]["memory_mb"], 2048)
        files = {f["path"]: f for f in j["files"]}
        self.assertEqual(files["variants/int8/1/model.onnx"]["variant"], "int8")
        self.assertEqual(files["config.json"]["variant"], "")
        self.assertNotIn("variants.json", files)
        self.assertEqual(files["variants/int8/1/model.onnx"]["digest"],
                         sha256(os.path.join(self.model, "variants", "int8", "1", "model.onnx")))

    def test_packing_again_gives_the_same_digest(self):
        layout = os.path.join(self.tmp, "again")
        r = run(BIN, "pack", self.model, "-t", REF, "--output", layout)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), self.digest)

    def test_choice_flips_with_the_cpu_features(self):
        vnni = self.inspect_json(VNNI)
        self.assertEqual(vnni["choice"]["name"], "int8")
        self.assertIn("cpu_features=avx512_vnni", vnni["choice"]["reason"])
        self.assertEqual(vnni["choice"]["rejected"][0]["name"], "fp16")
        self.assertIn("needs execution provider(s) cuda", vnni["choice"]["rejected"][0]["why"])
        self.assertEqual(vnni["hardware"]["source"], "declared")
        install = {f["path"]: f["digest"] for f in vnni["install"]}
        self.assertEqual(sorted(install), ["1/model.onnx", "config.json", "continuum-package.json"])
        self.assertEqual(install["1/model.onnx"],
                         sha256(os.path.join(self.model, "variants", "int8", "1", "model.onnx")))

        plain = self.inspect_json(AVX2)
        self.assertEqual(plain["choice"]["name"], "fp32")
        rejected = {r["name"]: r["why"] for r in plain["choice"]["rejected"]}
        self.assertEqual(sorted(rejected), ["fp16", "int8"])
        self.assertIn("needs CPU feature(s) avx512_vnni, which this node's CPU lacks", rejected["int8"])
        install = {f["path"]: f["digest"] for f in plain["install"]}
        self.assertEqual(install["1/model.onnx"],
                         sha256(os.path.join(self.model, "variants", "fp32", "1", "model.onnx")))

    def test_a_cuda_node_takes_the_fp16_variant_unless_memory_is_short(self):
        gpu = self.inspect_json(GPU)
        self.assertEqual(gpu["choice"]["name"], "fp16")
        self.assertEqual(gpu["choice"]["rejected"], [])
        small = self.inspect_json(GPU.replace("memory_mb=8192", "memory_mb=1024"))
        self.assertEqual(small["choice"]["name"], "int8")
        self.assertIn("needs 2048 MB of memory, this node has 1024 MB", small["choice"]["rejected"][0]["why"])

    def test_text_output_says_what_and_why(self):
        out = self.inspect("--hardware", AVX2).stdout
        self.assertIn("variants, best first:", out)
        self.assertIn("2. int8  precision int8  requires cpu_architecture=x86_64; cpu_features=avx512_vnni", out)
        self.assertIn("hardware (declared): cpu_architecture=x86_64;cpu_features=avx2,fma", out)
        self.assertIn("would install: fp32", out)
        self.assertIn("passed over int8: needs CPU feature(s) avx512_vnni", out)
        self.assertIn("variants/int8/1/model.onnx  (variant int8)", out)

    def test_detected_hardware_chooses_a_variant(self):
        j = json.loads(self.inspect("--json").stdout)
        self.assertEqual(j["hardware"]["source"], "detected")
        self.assertIn("cpu", j["hardware"]["execution_providers"])
        self.assertGreater(j["hardware"]["memory_mb"], 0)
        with open("/proc/cpuinfo") as f:
            vnni = " avx512_vnni" in f.read()
        cuda = "cuda" in j["hardware"]["execution_providers"]
        self.assertEqual(j["choice"]["name"], "fp16" if cuda else "int8" if vnni else "fp32")

    def test_no_variant_fits(self):
        model = os.path.join(self.tmp, "gpu_only")
        os.makedirs(os.path.join(model, "variants"))
        shutil.copytree(os.path.join(self.model, "variants", "fp16"), os.path.join(model, "variants", "fp16"))
        with open(os.path.join(model, "variants.json"), "w") as f:
            json.dump({"variants": [VARIANTS["variants"][0]]}, f)
        layout = os.path.join(self.tmp, "gpu_only_layout")
        r = run(BIN, "pack", model, "-t", "localhost:5000/models/gpu_only:1", "--output", layout)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run(BIN, "inspect", "localhost:5000/models/gpu_only:1", "--layout", layout, "--hardware", AVX2, "--json")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        j = json.loads(r.stdout)
        self.assertIsNone(j["choice"])
        self.assertIn("'fp16' needs execution provider(s) cuda", j["error"])
        self.assertIn("no variant of the package runs on this node", r.stderr)

    def test_variant_limits_are_flags(self):
        layout = os.path.join(self.tmp, "limits_layout")
        ref = "localhost:5000/models/limits:1"
        r = run(BIN, "pack", self.model, "-t", ref, "--output", layout, "--max-variants", "2")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("more than the limit of 2", r.stderr)
        r = run(BIN, "pack", self.model, "-t", ref, "--output", layout, "--max-variants-json-bytes", "10")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("variants.json is larger than the limit of 10 bytes", r.stderr)
        r = run(BIN, "pack", self.model, "-t", ref, "--output", layout, "--max-variants", "3")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_bad_requirements_are_refused(self):
        for requires, says in (({"cpu_features": ["avx512vnni"]},
                                "variants[0].requires.cpu_features[0]: unknown CPU feature 'avx512vnni'"),
                               ({"execution_providers": ["tensorrt"]}, "unknown execution provider 'tensorrt'"),
                               ({"memory_mb": -1}, "variants[0].requires.memory_mb"),
                               ({"gpus": 1}, "variants[0].requires.gpus: unknown field")):
            model = os.path.join(self.tmp, "bad")
            shutil.rmtree(model, ignore_errors=True)
            shutil.copytree(os.path.join(self.model, "variants", "fp32"), os.path.join(model, "variants", "fp32"))
            with open(os.path.join(model, "variants.json"), "w") as f:
                json.dump({"variants": [{"name": "fp32", "precision": "fp32", "requires": requires}]}, f)
            r = run(BIN, "pack", model, "-t", REF, "--output", os.path.join(self.tmp, "bad_layout"))
            self.assertEqual(r.returncode, 1, r.stderr)
            self.assertIn("variants.json: ", r.stderr)
            self.assertIn(says, r.stderr)
        for hardware, says in (("cpu_features=avx3", "unknown word 'avx3'"), ("gpu=1", "unknown key 'gpu'"),
                               ("memory_mb=lots", "'lots' is not a positive number of MB")):
            r = run(BIN, "inspect", REF, "--layout", self.layout, "--hardware", hardware)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("hardware: ", r.stderr)
            self.assertIn(says, r.stderr)

    def test_a_package_without_variants_has_default(self):
        model = os.path.join(self.tmp, "plain")
        shutil.copytree(os.path.join(MODELS, "add_sub"), model)
        layout = os.path.join(self.tmp, "plain_layout")
        r = run(BIN, "pack", model, "-t", "localhost:5000/models/add_sub:1", "--output", layout)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run(BIN, "inspect", "localhost:5000/models/add_sub:1", "--layout", layout, "--hardware", AVX2, "--json")
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        self.assertEqual(j["variants"], [])
        self.assertEqual(j["choice"]["name"], "default")
        self.assertEqual(sorted(f["path"] for f in j["install"]), ["1/model.onnx", "continuum-package.json"])

    def test_unknown_package_is_an_error(self):
        r = run(BIN, "inspect", "localhost:5000/models/mlp:2", "--layout", self.layout)
        self.assertEqual(r.returncode, 1)
        self.assertIn("continuum inspect: ", r.stderr)


if __name__ == "__main__":
    unittest.main()
