"""End-to-end: Triton's perf_analyzer, unchanged, drives `continuum serve` over HTTP and over gRPC.

perf_analyzer is installed by tools/perf_analyzer.sh (`make test` runs it; pinned there) and found
at $CONTINUUM_PERF_ANALYZER. It reads the model's metadata and configuration, builds its own
requests (binary tensors over HTTP by default, JSON when asked, protobuf over gRPC) and exits
non-zero when a request fails; the test checks its exit status, its CSV report (-f) and the
node's own statistics (no failed request). The runs are short: count_windows with small counts,
and the stability check opened wide: on a loaded machine three windows of 20 requests can differ
ten-fold, and the figures are not the point here (bench/peers/ measures).
Whatever perf_analyzer cannot do against the node is a bug of the node.
"""
import csv
import os
import platform
import subprocess
import tempfile
import unittest

from harness import Server, make_repository

PERF_ANALYZER = os.environ.get("CONTINUUM_PERF_ANALYZER", os.path.join(
    os.environ.get("CONTINUUM_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "continuum")),
    "perf_analyzer", "perf_analyzer"))
SUPPORTED = platform.system() == "Linux" and platform.machine() == "x86_64"
CONCURRENCY = [1, 4]


@unittest.skipUnless(SUPPORTED, "perf_analyzer ships for Linux x86_64 only")
class PerfAnalyzerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(PERF_ANALYZER, os.X_OK):
            raise RuntimeError("perf_analyzer is not installed at %s: run tools/perf_analyzer.sh" % PERF_ANALYZER)
        cls.repo = make_repository(["add_sub", "mlp"])
        cls.server = Server(cls.repo)
        line = cls.server.stdout_line("grpc listening on port")
        cls.grpc_port = int(line.strip().rsplit(" ", 1)[1])
        cls.out = tempfile.mkdtemp(prefix="continuum-e2e-pa-")

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()

    def failures(self, model):
        status, body = self.server.get("/v2/models/%s/stats" % model)
        self.assertEqual(status, 200)
        stats = body["model_stats"][0]["inference_stats"]
        return stats["fail"]["count"], stats["success"]["count"]

    def perf_analyzer(self, model, protocol, *flags):
        url = "127.0.0.1:%d" % (self.server.port if protocol == "http" else self.grpc_port)
        report = os.path.join(self.out, "%s-%s-%d.csv" % (model, protocol, len(os.listdir(self.out))))
        argv = [PERF_ANALYZER, "-m", model, "-i", protocol, "-u", url, "--measurement-mode", "count_windows",
                "--measurement-request-count", "20", "--stability-percentage", "100000", "--max-trials", "3",
                "--concurrency-range", "%d:%d:%d" % (CONCURRENCY[0], CONCURRENCY[-1], CONCURRENCY[-1] - CONCURRENCY[0]),
                "-f", report, *flags]
        failed_before, succeeded_before = self.failures(model)
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240)
        self.assertEqual(r.returncode, 0, "perf_analyzer %s over %s exited %d:\n%s"
                         % (model, protocol, r.returncode, r.stdout[-4000:]))
        with open(report) as f:
            rows = list(csv.DictReader(f))
        # The report lists the concurrencies by throughput, not in the order measured.
        self.assertEqual(sorted(int(row["Concurrency"]) for row in rows), CONCURRENCY, r.stdout[-2000:])
        for row in rows:
            self.assertGreater(float(row["Inferences/Second"]), 0, row)
            self.assertGreater(int(row["p99 latency"]), 0, row)
        failed, succeeded = self.failures(model)
        self.assertEqual(failed, failed_before, "the node counted failed requests")
        self.assertGreater(succeeded, succeeded_before)

    def test_http_binary(self):
        self.perf_analyzer("add_sub", "http")
        self.perf_analyzer("mlp", "http")

    def test_http_json(self):
        # Zeros: perf_analyzer's random FP32 values are random bits, NaN among them, which JSON cannot carry.
        self.perf_analyzer("add_sub", "http", "--input-tensor-format", "json", "--output-tensor-format", "json",
                           "--input-data", "zero")

    def test_grpc(self):
        self.perf_analyzer("add_sub", "grpc")
        self.perf_analyzer("mlp", "grpc")


if __name__ == "__main__":
    unittest.main()
