"""End-to-end: the task API (Workers AI-shaped /ai/run, /ai/models; OpenAI /v1/embeddings and the
official openai npm client) and `continuum run`, on the real catalog: PP-OCRv4, Silero VAD v5 and
the project's tiny generated text and vision models."""
import base64
import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import BIN, Server

CATALOG = os.environ.get("CONTINUUM_TASK_CATALOG", os.path.join(os.path.dirname(__file__), "../../build/task_catalog"))
OPENAI_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "openai")
CLOUDFLARE_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "cloudflare")

OCR = "@cf/paddle/pp-ocrv4"
VAD = "@cf/snakers4/silero-vad"
EMB = "@cf/continuum/tiny-bert-embeddings"
CLS = "@cf/continuum/tiny-bert-sentiment"


def render_text(path, text, pointsize=32):
    subprocess.run(["convert", "-background", "white", "-fill", "black", "-font", "DejaVu-Sans",
                    "-pointsize", str(pointsize), "-bordercolor", "white", "-border", "20",
                    "label:" + text, path], check=True)


def speech_wav(path):
    raw = path + ".raw.wav"
    subprocess.run(["espeak-ng", "-w", raw, "the quick brown fox jumps over the lazy dog"], check=True)
    subprocess.run(["sox", raw, "-r", "16000", path, "pad", "1.0", "1.0"], check=True)
    os.remove(raw)


class TaskApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="continuum-tasks-")
        cls.server = Server(os.path.join(CATALOG, "models"), "--catalog", os.path.join(CATALOG, "catalog"),
                            "--intra-op-threads", "2")
        status, out = cls.server.get("/ai/models")
        cls.names = {m["name"] for m in out["result"] if m["available"]}
        cls.all_names = {m["name"] for m in out["result"]}

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def need(self, name):
        self.assertIn(name, self.names, "catalog entry missing or not available")

    def run_task(self, model, body=None, raw=None, headers=None, path=None):
        path = path or "/ai/run/" + model
        if raw is not None:
            status, data, resp = self.server.request("POST", path, raw, headers or {"Content-Type": "application/octet-stream"})
        else:
            status, data, resp = self.server.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        out = json.loads(data)
        self.assertEqual(set(out), {"result", "success", "errors", "messages"})
        return status, out

    def test_catalog_lists_entries_with_schemas(self):
        status, out = self.server.get("/ai/models")
        self.assertEqual(status, 200)
        self.assertTrue(out["success"])
        for m in out["result"]:
            for k in ("name", "task", "description", "license", "source"):
                self.assertIn(k, m)
            if m["available"]:
                # An object, or (image and audio tasks) a choice of a raw file body or an object.
                schema = m["input_schema"]
                kinds = [schema] + schema.get("oneOf", [])
                self.assertTrue(any(k.get("type") == "object" for k in kinds), schema)
                self.assertIn("type", m["output_schema"])
        self.assertGreaterEqual(len(self.names), 4, self.names)
        status, one = self.server.get("/ai/models/" + EMB)
        self.assertEqual((status, one["result"]["task"]), (200, "text-embeddings"))
        status, missing = self.server.get("/ai/models/@cf/nope")
        self.assertEqual((status, missing["success"]), (404, False))

    def test_embeddings_workers_ai_shape_and_batching(self):
        self.need(EMB)
        status, out = self.run_task(EMB, {"text": ["hello world", "edge and cloud", "hello world"]})
        self.assertEqual(status, 200, out)
        r = out["result"]
        self.assertEqual(r["shape"][0], 3)
        self.assertEqual(len(r["data"]), 3)
        self.assertEqual(r["data"][0], r["data"][2])
        status, acct = self.run_task(EMB, {"text": "hello world"}, path="/accounts/acme/ai/run/" + EMB)
        self.assertEqual(status, 200, acct)

    def test_task_errors_use_the_envelope(self):
        self.need(EMB)
        status, out = self.run_task("@cf/no/such-model", {"text": "x"})
        self.assertEqual((status, out["success"]), (404, False))
        self.assertIn("unknown model", out["errors"][0]["message"])
        status, out = self.run_task(EMB, {"text": ["x"] * 101})
        self.assertEqual(status, 400, out)
        status, out = self.run_task(EMB, {"text": ""})
        self.assertEqual(status, 400, out)
        status, out = self.run_task(EMB, raw=b'{"text": ', headers={"Content-Type": "application/json"})
        self.assertEqual(status, 400, out)
        status, out = self.run_task(EMB, {"text": 5})
        self.assertEqual(status, 400, out)

    def test_text_classification(self):
        self.need(CLS)
        status, out = self.run_task(CLS, {"text": "what a great day"})
        self.assertEqual(status, 200, out)
        labels = out["result"]
        self.assertGreaterEqual(len(labels), 2)
        self.assertAlmostEqual(sum(l["score"] for l in labels), 1.0, places=4)
        self.assertEqual(labels, sorted(labels, key=lambda l: -l["score"]))

    def test_ocr_raw_base64_and_byte_array(self):
        self.need(OCR)
        png = os.path.join(self.tmp, "line.png")
        render_text(png, "Continuum 2026: edge, cloud & device.")
        with open(png, "rb") as f:
            data = f.read()
        for how, kwargs in (("raw", {"raw": data, "headers": {"Content-Type": "image/png"}}),
                            ("base64", {"body": {"image": base64.b64encode(data).decode()}}),
                            ("bytes", {"body": {"image": list(data)}})):
            with self.subTest(input=how):
                status, out = self.run_task(OCR, **kwargs)
                self.assertEqual(status, 200, out)
                self.assertEqual(out["result"]["lines"][0]["text"], "Continuum 2026: edge, cloud & device.")

    def test_ocr_rejects_broken_images(self):
        self.need(OCR)
        status, out = self.run_task(OCR, raw=b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
        self.assertEqual(status, 400, out)
        status, out = self.run_task(OCR, raw=b"GIF89a not supported")
        self.assertEqual(status, 400, out)
        status, out = self.run_task(OCR, {"image": "!!!not base64"})
        self.assertEqual(status, 400, out)

    def test_byte_limits_are_checked_before_queueing(self):
        self.need(OCR)
        with Server(os.path.join(CATALOG, "models"), "--catalog", os.path.join(CATALOG, "catalog"),
                    "--max-image-bytes", "4096", "--max-audio-bytes", "2048", "--max-text-bytes", "16") as s:
            def run(body, ctype, model=OCR):
                status, data, _ = s.request("POST", "/ai/run/" + model, body, {"Content-Type": ctype})
                out = json.loads(data)
                self.assertEqual(set(out), {"result", "success", "errors", "messages"})
                self.assertFalse(out["success"])
                return status, out["errors"][0]["message"]

            png = b"\x89PNG\r\n\x1a\n" + b"\0" * 5000
            status, msg = run(png, "image/png")
            self.assertEqual(status, 413, msg)
            self.assertIn("request body (image): 5008 bytes", msg)
            self.assertIn("--max-image-bytes", msg)
            status, msg = run(json.dumps({"image": base64.b64encode(png).decode()}), "application/json")
            self.assertEqual((status, msg.split(":")[0]), (413, "image"), msg)
            wav = b"RIFF\0\0\0\0WAVE" + b"\0" * 2048
            status, msg = run(wav, "audio/wav", VAD)
            self.assertEqual(status, 413, msg)
            self.assertIn("--max-audio-bytes", msg)
            status, msg = run(json.dumps({"text": ["short", "x" * 17]}), "application/json", EMB)
            self.assertEqual(status, 413, msg)
            self.assertIn("text[1]: 17 bytes", msg)

    def test_vad_segments(self):
        self.need(VAD)
        wav = os.path.join(self.tmp, "speech.wav")
        speech_wav(wav)
        with open(wav, "rb") as f:
            audio = f.read()
        status, out = self.run_task(VAD, raw=audio, headers={"Content-Type": "audio/wav"})
        self.assertEqual(status, 200, out)
        segs = out["result"]["segments"]
        self.assertGreaterEqual(len(segs), 1)
        self.assertAlmostEqual(segs[0]["start"], 1.0, delta=0.2)
        status, out = self.run_task(VAD, raw=b"RIFF\x10\0\0\0WAVEjunk")
        self.assertEqual(status, 400, out)

    def metric(self, family, model):
        """The value of `family` for the model's version 1 (0 when the series is not there yet)."""
        metrics = self.server.request("GET", "/metrics")[1].decode()
        series = '%s{model="%s",version="1"} ' % (family, model)
        values = [float(l[len(series):]) for l in metrics.splitlines() if l.startswith(series)]
        self.assertLessEqual(len(values), 1, values)
        return values[0] if values else 0.0

    def test_task_requests_share_the_schedulers_and_metrics(self):
        self.need(EMB)
        # The entry's encoder is the repository model tiny-bert-embeddings: the task's tensors go
        # through its scheduler and show up in its v2 metrics.
        model = "tiny-bert-embeddings"
        success = self.metric("continuum_inference_request_success_total", model)
        rows = self.metric("continuum_inference_count_total", model)
        status, out = self.run_task(EMB, {"text": ["a", "b", "c"]})
        self.assertEqual(status, 200, out)
        self.assertGreaterEqual(self.metric("continuum_inference_request_success_total", model), success + 1)
        self.assertEqual(self.metric("continuum_inference_count_total", model), rows + 3)

    def test_openai_npm_client(self):
        self.need(EMB)
        if not os.path.isdir(os.path.join(OPENAI_DIR, "node_modules", "openai")):
            self.fail("tests/e2e/openai/node_modules missing: tools/setup.sh installs it")
        r = subprocess.run(["node", "embeddings.mjs", "http://127.0.0.1:%d/v1" % self.server.port, EMB],
                           cwd=OPENAI_DIR, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertTrue(json.loads(r.stdout.strip().splitlines()[-1])["ok"])

    def test_cloudflare_npm_client(self):
        """The official cloudflare client (pinned in tests/e2e/cloudflare): ai.models.list pages
        through GET /accounts/{account}/ai/models/search, and ai.run runs a model."""
        self.need(EMB)
        if not os.path.isdir(os.path.join(CLOUDFLARE_DIR, "node_modules", "cloudflare")):
            self.fail("tests/e2e/cloudflare/node_modules missing: tools/setup.sh installs it")
        r = subprocess.run(["node", "workers_ai.mjs", "http://127.0.0.1:%d" % self.server.port, "acct-1", EMB],
                           cwd=CLOUDFLARE_DIR, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertTrue(out["ok"])
        self.assertEqual(set(out["models"]), self.all_names)

    def test_models_search_route(self):
        status, data, _ = self.server.request("GET", "/ai/models/search?task=Text+Embeddings&per_page=1")
        self.assertEqual(status, 200, data)
        out = json.loads(data)
        self.assertEqual(set(out), {"result", "result_info", "success", "errors", "messages"})
        self.assertEqual(len(out["result"]), 1)
        self.assertEqual(out["result"][0]["task"]["name"], "Text Embeddings")
        self.assertEqual(out["result_info"]["per_page"], 1)
        self.assertGreaterEqual(out["result_info"]["total_count"], 1)
        status, data, _ = self.server.request("GET", "/accounts/acme/ai/models/search?search=PP-OCR")
        self.assertEqual(status, 200, data)
        self.assertIn(OCR, [m["name"] for m in json.loads(data)["result"]])
        status, data, _ = self.server.request("GET", "/ai/models/search?page=zero")
        self.assertEqual(status, 400)
        self.assertIn("'page'", json.loads(data)["errors"][0]["message"])

    def test_openai_errors(self):
        status, data, _ = self.server.request("POST", "/v1/embeddings", json.dumps({"input": "x"}))
        self.assertEqual(status, 400)
        self.assertEqual(json.loads(data)["error"]["param"], "model")
        status, data, _ = self.server.request("POST", "/v1/embeddings", json.dumps({"model": EMB, "input": [[1, 2]]}))
        self.assertEqual(status, 400)

    def test_cli_run_in_process_and_against_the_server(self):
        self.need(EMB)
        common = ["--model-repository", os.path.join(CATALOG, "models"), "--catalog", os.path.join(CATALOG, "catalog")]
        r = subprocess.run([BIN, "run", CLS, "what a great day", "--json"] + common, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        local = json.loads(r.stdout)
        self.assertTrue(local["success"])
        r = subprocess.run([BIN, "run", CLS, "what a great day", "--json", "--url", "http://127.0.0.1:%d" % self.server.port],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["result"][0]["label"], local["result"][0]["label"])
        r = subprocess.run([BIN, "run", CLS, "what a great day"] + common, capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("label:", r.stdout)

    def test_cli_run_answers_in_the_task_api_envelope_both_ways(self):
        # In-process, the task API of an InferenceNode answers as a server's does: the same
        # envelope, errors included, whether or not a server is in between.
        common = ["--model-repository", os.path.join(CATALOG, "models"), "--catalog", os.path.join(CATALOG, "catalog")]
        url = ["--url", "http://127.0.0.1:%d" % self.server.port]
        answers = []
        for where in (common, url):
            r = subprocess.run([BIN, "run", "@cf/nobody/no-such-model", "x", "--json"] + where,
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)  # --json prints whatever came back
            answers.append(json.loads(r.stdout))
        self.assertEqual(answers[0], answers[1])
        self.assertFalse(answers[0]["success"])
        self.assertEqual(answers[0]["errors"][0]["code"], 404)
        self.assertIn("unknown model '@cf/nobody/no-such-model'", answers[0]["errors"][0]["message"])
        for where in (common, url):
            r = subprocess.run([BIN, "run", "@cf/nobody/no-such-model", "x"] + where,
                               capture_output=True, text=True, timeout=120)
            self.assertEqual(r.returncode, 1)
            self.assertIn("unknown model '@cf/nobody/no-such-model'", r.stderr)

    def test_cli_run_errors(self):
        r = subprocess.run([BIN, "run", CLS, "x", "--url", "ftp://127.0.0.1:1"], capture_output=True, text=True,
                           timeout=120)
        self.assertEqual(r.returncode, 1)
        self.assertIn("url must start with http:// or https://: ftp://127.0.0.1:1", r.stderr)
        r = subprocess.run([BIN, "run", CLS, "x", "--url", "127.0.0.1:1"], capture_output=True, text=True, timeout=120)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cannot reach 127.0.0.1:1", r.stderr)
        r = subprocess.run([BIN, "run", CLS, "x", "--url", "127.0.0.1:1", "--timeout-ms", "0"], capture_output=True,
                           text=True, timeout=120)
        self.assertEqual(r.returncode, 2)
        self.assertIn("out of range", r.stderr)


class OcrCostLimitsTest(unittest.TestCase):
    """The OCR entry's cost caps, through the real models: a page whose lines need more
    recognizer pixels than settings.max_rec_pixels is refused with 413 naming the setting, and
    recognizer runs hold at most rec_batch lines (the model's max_batch_size)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="continuum-ocr-limits-")
        catalog = os.path.join(cls.tmp, "catalog")
        shutil.copytree(os.path.join(CATALOG, "catalog", "pp-ocrv4"), os.path.join(catalog, "pp-ocrv4"))
        entry_path = os.path.join(catalog, "pp-ocrv4", "catalog.json")
        with open(entry_path) as f:
            entry = json.load(f)
        entry["settings"]["max_rec_pixels"] = 100000
        with open(entry_path, "w") as f:
            json.dump(entry, f)
        cls.server = Server(os.path.join(CATALOG, "models"), "--catalog", catalog, "--intra-op-threads", "2")
        cls.page = os.path.join(cls.tmp, "page.png")
        render_text(cls.page, "\n".join("line %d of a page: edge, cloud and device" % i for i in range(4)))

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_lines_over_the_pixel_budget_are_refused_with_413(self):
        with open(self.page, "rb") as f:
            data = f.read()
        status, body, _ = self.server.request("POST", "/ai/run/" + OCR, data, {"Content-Type": "image/png"})
        out = json.loads(body)
        self.assertEqual(status, 413, out)
        self.assertFalse(out["success"])
        message = out["errors"][0]["message"]
        self.assertIn("ocr: the 4 text lines found need", message)
        self.assertIn("over the limit settings.max_rec_pixels = 100000", message)
        # One line of the same page fits the budget.
        line = os.path.join(self.tmp, "line.png")
        render_text(line, "line 0 of a page: edge, cloud and device")
        with open(line, "rb") as f:
            status, body, _ = self.server.request("POST", "/ai/run/" + OCR, f.read(), {"Content-Type": "image/png"})
        out = json.loads(body)
        self.assertEqual(status, 200, out)
        self.assertEqual(len(out["result"]["lines"]), 1)

    def test_recognizer_runs_are_bounded_to_rec_batch_lines(self):
        status, config = self.server.get("/v2/models/ppocr_rec/config")
        self.assertEqual(status, 200, config)
        self.assertEqual(config["max_batch_size"], 6)


if __name__ == "__main__":
    unittest.main()
