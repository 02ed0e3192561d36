// OCR throughput and where the time goes: one page image read again and again through the
// "ocr" task in process (repository + catalog + RepositoryRunner, as `continuum serve` wires
// them, minus HTTP).
//
// Reports pages per second (sequential and with --concurrency requests in flight), latency, and
// a breakdown of the sequential run: the task's own pre/post-processing per stage (decode,
// detection pre/post, crop, classifier pre/post, recognition pre/post), ONNX Runtime execution
// (the schedulers' compute_infer statistics) and the rest (queueing, batching, copies).
//
// Usage: continuum_ocr_bench --models DIR --catalog DIR --page PNG [--entry NAME] [--seconds S]
//                            [--concurrency C] [--threads T] [--json]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "tasks/ocr/ocr_harness.h"

namespace {

using namespace continuum;
using Clock = std::chrono::steady_clock;

struct Snapshot {
  uint64_t decode, det_pre, det_wait, det_post, crop, cls_pre, cls_wait, cls_post, rec_pre, rec_wait,
      rec_post;
  uint64_t infer, executions, pages, lines;
};

Snapshot Take(const tasks::ocr::OcrHarness& h) {
  const auto& t = h.task().timings();
  return {t.decode_ns.load(),  t.det_pre_ns.load(),  t.det_wait_ns.load(), t.det_post_ns.load(),
          t.crop_ns.load(),    t.cls_pre_ns.load(),  t.cls_wait_ns.load(), t.cls_post_ns.load(),
          t.rec_pre_ns.load(), t.rec_wait_ns.load(), t.rec_post_ns.load(), h.InferNs(),
          h.Executions(),      t.pages.load(),       t.lines.load()};
}

double Ms(uint64_t ns, uint64_t n) { return n ? static_cast<double>(ns) / 1e6 / static_cast<double>(n) : 0; }

struct RunResult {
  double seconds = 0;
  uint64_t pages = 0;
  std::vector<double> latencies_ms;
  bool failed = false;
};

RunResult Drive(tasks::ocr::OcrHarness& h, const std::string& page, double seconds, int concurrency) {
  RunResult r;
  std::atomic<bool> stop{false}, failed{false};
  std::vector<std::vector<double>> lat(static_cast<size_t>(concurrency));
  const auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < concurrency; ++c) {
    threads.emplace_back([&, c] {
      while (!stop.load()) {
        const auto t0 = Clock::now();
        auto out = h.Run(page);
        if (!out.ok()) {
          std::fprintf(stderr, "ocr_bench: %s\n", out.status().ToString().c_str());
          failed = true;
          stop = true;
          return;
        }
        lat[static_cast<size_t>(c)].push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        if (std::chrono::duration<double>(Clock::now() - start).count() >= seconds) stop = true;
      }
    });
  }
  for (auto& t : threads) t.join();
  r.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  for (auto& l : lat) r.latencies_ms.insert(r.latencies_ms.end(), l.begin(), l.end());
  r.pages = r.latencies_ms.size();
  std::sort(r.latencies_ms.begin(), r.latencies_ms.end());
  r.failed = failed;
  return r;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  return sorted[std::min(sorted.size() - 1, static_cast<size_t>(p * static_cast<double>(sorted.size())))];
}

}  // namespace

int main(int argc, char** argv) {
  std::string models, catalog, page_path, entry = "@cf/paddle/pp-ocrv4";
  double seconds = 10;
  int concurrency = 4, threads = 0;
  bool json = false;
  for (int i = 1; i < argc; ++i) {
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ocr_bench: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    const std::string a = argv[i];
    if (a == "--models") {
      models = value();
    } else if (a == "--catalog") {
      catalog = value();
    } else if (a == "--page") {
      page_path = value();
    } else if (a == "--entry") {
      entry = value();
    } else if (a == "--seconds") {
      seconds = std::atof(value().c_str());
    } else if (a == "--concurrency") {
      concurrency = std::max(1, std::atoi(value().c_str()));
    } else if (a == "--threads") {
      threads = std::atoi(value().c_str());
    } else if (a == "--json") {
      json = true;
    } else {
      std::fprintf(stderr, "ocr_bench: unknown argument %s\n", argv[i]);
      return 2;
    }
  }
  if (models.empty() || catalog.empty() || page_path.empty()) {
    std::fprintf(
        stderr,
        "usage: continuum_ocr_bench --models DIR --catalog DIR --page PNG [--entry NAME] [--seconds S] "
        "[--concurrency C] [--threads T] [--json]\n");
    return 2;
  }
  std::ifstream in(page_path, std::ios::binary);
  const std::string page((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto opened = tasks::ocr::OcrHarness::Open(models, catalog, entry, threads);
  if (!opened.ok()) {
    std::fprintf(stderr, "ocr_bench: %s\n", opened.status().ToString().c_str());
    return 1;
  }
  tasks::ocr::OcrHarness& h = **opened;

  // Warm-up (ORT allocates its arenas on the first runs of each shape), and the page's lines.
  std::string text;
  for (int i = 0; i < 3; ++i) {
    auto r = h.Run(page);
    if (!r.ok()) {
      std::fprintf(stderr, "ocr_bench: %s\n", r.status().ToString().c_str());
      return 1;
    }
    text = r->result_json;
  }

  const Snapshot a = Take(h);
  const auto models_a = h.InferByModel();
  const RunResult seq = Drive(h, page, seconds, 1);
  const Snapshot b = Take(h);
  const auto models_b = h.InferByModel();
  const RunResult par = concurrency > 1 ? Drive(h, page, seconds, concurrency) : RunResult{};
  if (seq.failed || par.failed) return 1;

  const uint64_t n = b.pages - a.pages;
  const double wall_ms = seq.seconds * 1e3 / static_cast<double>(std::max<uint64_t>(n, 1));
  const double decode = Ms(b.decode - a.decode, n), det_pre = Ms(b.det_pre - a.det_pre, n),
               det_post = Ms(b.det_post - a.det_post, n), crop = Ms(b.crop - a.crop, n),
               cls_pre = Ms(b.cls_pre - a.cls_pre, n), cls_post = Ms(b.cls_post - a.cls_post, n),
               rec_pre = Ms(b.rec_pre - a.rec_pre, n), rec_post = Ms(b.rec_post - a.rec_post, n);
  const double own = decode + det_pre + det_post + crop + cls_pre + cls_post + rec_pre + rec_post;
  const double waits =
      Ms(b.det_wait - a.det_wait, n) + Ms(b.cls_wait - a.cls_wait, n) + Ms(b.rec_wait - a.rec_wait, n);
  const double ort = Ms(b.infer - a.infer, n);
  const double lines = static_cast<double>(b.lines - a.lines) / static_cast<double>(std::max<uint64_t>(n, 1));
  const double execs =
      static_cast<double>(b.executions - a.executions) / static_cast<double>(std::max<uint64_t>(n, 1));
  const double seq_pps = static_cast<double>(seq.pages) / seq.seconds;
  const double par_pps = concurrency > 1 ? static_cast<double>(par.pages) / par.seconds : seq_pps;

  if (json) {
    std::printf(
        "{\"page\":\"%s\",\"lines_per_page\":%.1f,\"sequential\":{\"pages_per_s\":%.2f,\"p50_ms\":%.1f,"
        "\"p99_ms\":%.1f},\"concurrent\":{\"concurrency\":%d,\"pages_per_s\":%.2f,\"p50_ms\":%.1f,\"p99_ms\":"
        "%.1f},"
        "\"per_page_ms\":{\"wall\":%.2f,\"decode\":%.2f,\"det_pre\":%.2f,\"det_post\":%.2f,\"crop\":%.2f,"
        "\"cls_pre\":%.2f,\"cls_post\":%.2f,\"rec_pre\":%.2f,\"rec_post\":%.2f,\"task_own\":%.2f,"
        "\"runner_wait\":%.2f,\"ort_compute\":%.2f},\"ort_executions_per_page\":%.1f}\n",
        page_path.c_str(), lines, seq_pps, Percentile(seq.latencies_ms, 0.5),
        Percentile(seq.latencies_ms, 0.99), concurrency, par_pps, Percentile(par.latencies_ms, 0.5),
        Percentile(par.latencies_ms, 0.99), wall_ms, decode, det_pre, det_post, crop, cls_pre, cls_post,
        rec_pre, rec_post, own, waits, ort, execs);
    return 0;
  }
  std::printf("page %s: %.0f lines recognized per page\n", page_path.c_str(), lines);
  std::printf("sequential:      %6.2f pages/s   p50 %6.1f ms   p99 %6.1f ms   (%llu pages)\n", seq_pps,
              Percentile(seq.latencies_ms, 0.5), Percentile(seq.latencies_ms, 0.99),
              static_cast<unsigned long long>(seq.pages));
  if (concurrency > 1) {
    std::printf("concurrency %-3d %6.2f pages/s   p50 %6.1f ms   p99 %6.1f ms   (%llu pages)\n", concurrency,
                par_pps, Percentile(par.latencies_ms, 0.5), Percentile(par.latencies_ms, 0.99),
                static_cast<unsigned long long>(par.pages));
  }
  std::printf("sequential page, %.2f ms:\n", wall_ms);
  auto row = [&](const char* what, double ms) {
    std::printf("  %-36s %8.2f ms  %5.1f%%\n", what, ms, 100 * ms / wall_ms);
  };
  row("decode", decode);
  row("detection pre (resize, normalize)", det_pre);
  row("detection post (DB boxes)", det_post);
  row("crop + rectify lines", crop);
  row("classifier pre/post", cls_pre + cls_post);
  row("recognition pre/post (CTC)", rec_pre + rec_post);
  row("= task pre/post-processing", own);
  row("waiting on the models (runner)", waits);
  std::printf("  of which ONNX Runtime compute, per model (batches overlap the task's own work):\n");
  for (size_t i = 0; i < models_b.size() && i < models_a.size(); ++i) {
    const double ms = Ms(models_b[i].infer_ns - models_a[i].infer_ns, n);
    const double ex = static_cast<double>(models_b[i].executions - models_a[i].executions) /
                      static_cast<double>(std::max<uint64_t>(n, 1));
    std::printf("    %-34s %8.2f ms  %5.1f%%  (%.1f executions)\n", models_b[i].model.c_str(), ms,
                100 * ms / wall_ms, ex);
  }
  row("  ONNX Runtime total", ort);
  std::printf("  (%.1f ORT executions per page)\n", execs);
  return 0;
}
