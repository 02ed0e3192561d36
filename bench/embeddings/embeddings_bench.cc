// Text-embeddings throughput, in process, through the whole task path (tokenizer, sub-batching,
// the repository's scheduler with dynamic batching, ONNX Runtime, pooling, JSON): texts per
// second for N short texts sent as requests of B texts versus one text per request, with C
// requests in flight (saturation).
//
//   continuum_embeddings_bench --model EXPORT_DIR [--texts 1000] [--batch 32] [--concurrency 32]
//                              [--repeat 3] [--threads 0] [--mode both|batched|single]
//                              [--max-batch N (the repository model's max_batch_size; default --batch)]
// EXPORT_DIR is a Hugging Face-style export folder (gen_tiny_bert.py writes them); it is
// imported into a temporary repository and catalog first.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/log.h"
#include "repository/repository.h"
#include "tasks/builtin.h"
#include "tasks/catalog.h"
#include "tasks/runner.h"
#include "tasks/text/import.h"

namespace fs = std::filesystem;
using namespace continuum;
using Clock = std::chrono::steady_clock;

namespace {

std::vector<std::string> ShortTexts(size_t n) {
  static const char* kWords[] = {"the",   "movie", "was",  "great", "good", "bad",  "film",  "story", "i",
                                 "loved", "it",    "not",  "very",  "book", "food", "day",   "actor", "fun",
                                 "and",   "of",    "best", "worst", "sad",  "this", "happy", "to",    "in"};
  std::mt19937 rng(42);
  std::vector<std::string> texts;
  for (size_t i = 0; i < n; ++i) {
    std::string t;
    int words = 4 + static_cast<int>(rng() % 9);  // 4..12 words: ~6..14 tokens
    for (int w = 0; w < words; ++w) t += std::string(w ? " " : "") + kWords[rng() % std::size(kWords)];
    texts.push_back(t + (rng() % 3 == 0 ? "!" : "."));
  }
  return texts;
}

double CpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto sec = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return sec(u.ru_utime) + sec(u.ru_stime);
}

// Runs `requests` with `concurrency` client threads; returns wall seconds (-1 on an error) and
// the process's CPU seconds in *cpu (on a shared machine the steadier measure of cost).
double RunAll(const tasks::Task& task, tasks::ModelRunner& runner,
              const std::vector<tasks::TaskRequest>& requests, int concurrency, double* cpu = nullptr) {
  double cpu_start = CpuSeconds();
  std::atomic<size_t> next{0};
  std::atomic<bool> failed{false};
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int c = 0; c < concurrency; ++c) {
    threads.emplace_back([&] {
      for (size_t i; (i = next.fetch_add(1)) < requests.size();) {
        auto r = task.Run(requests[i], runner);
        if (!r.ok()) {
          std::fprintf(stderr, "request %zu: %s\n", i, r.status().ToString().c_str());
          failed = true;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  double s = std::chrono::duration<double>(Clock::now() - start).count();
  if (cpu) *cpu = CpuSeconds() - cpu_start;
  return failed ? -1 : s;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path model;
  size_t n_texts = 1000, batch = 32, max_batch = 0;
  int concurrency = 32, repeat = 3, threads = 0;
  std::string mode = "both";  // or "batched", "single" (for profiling one of them)
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--model")
      model = v;
    else if (a == "--texts")
      n_texts = std::stoul(v);
    else if (a == "--batch")
      batch = std::stoul(v);
    else if (a == "--max-batch")
      max_batch = std::stoul(v);
    else if (a == "--concurrency")
      concurrency = std::stoi(v);
    else if (a == "--repeat")
      repeat = std::stoi(v);
    else if (a == "--threads")
      threads = std::stoi(v);
    else if (a == "--mode")
      mode = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (model.empty()) {
    std::fprintf(stderr,
                 "usage: continuum_embeddings_bench --model EXPORT_DIR [--texts N] [--batch B] "
                 "[--concurrency C] [--repeat R] [--threads T]\n");
    return 2;
  }
  SetLogLevel(LogLevel::kError);
  fs::path root = fs::temp_directory_path() / ("continuum_embeddings_bench_" + std::to_string(::getpid()));
  fs::remove_all(root);
  tasks::text::ImportOptions io;
  io.max_batch_size = static_cast<int64_t>(max_batch ? max_batch : batch);  // the model's, in the repository
  std::string entry;
  if (auto st = tasks::ImportHuggingFaceFolder(model, root / "models", root / "catalog", "@bench/embeddings",
                                               io, &entry);
      !st.ok()) {
    std::fprintf(stderr, "import: %s\n", st.ToString().c_str());
    return 1;
  }
  auto engine = runtime::Engine::Create({.intra_op_threads = threads});
  if (!engine.ok()) return 1;
  RepositoryOptions ro;
  ro.root = root / "models";
  ModelRepository repo(ro, engine->get(), nullptr);
  if (!repo.Start().ok() || !repo.Ready()) {
    std::fprintf(stderr, "repository did not start\n");
    return 1;
  }
  tasks::TaskRegistry registry;
  tasks::RegisterTextTasks(registry);
  auto catalog = tasks::Catalog::Load(root / "catalog", registry, {});
  if (!catalog.ok() || !(*catalog)->Find(entry) || !(*catalog)->Find(entry)->task) {
    std::fprintf(stderr, "catalog did not load\n");
    return 1;
  }
  const tasks::Task& task = *(*catalog)->Find(entry)->task;
  tasks::RepositoryRunner runner(&repo);

  auto texts = ShortTexts(n_texts);
  std::vector<tasks::TaskRequest> batched, single;
  for (size_t i = 0; i < texts.size(); i += batch) {
    tasks::TaskRequest r;
    r.texts.assign(texts.begin() + static_cast<ptrdiff_t>(i),
                   texts.begin() + static_cast<ptrdiff_t>(std::min(texts.size(), i + batch)));
    r.texts_is_array = true;
    batched.push_back(std::move(r));
  }
  for (const auto& t : texts) {
    tasks::TaskRequest r;
    r.texts = {t};
    single.push_back(std::move(r));
  }
  // Warm up both shapes of traffic.
  RunAll(task, runner, {batched.begin(), batched.begin() + 1}, 1);
  RunAll(task, runner, {single.begin(), single.begin() + std::min<size_t>(single.size(), 64)}, concurrency);

  std::printf("model %s, %zu texts, %d requests in flight, ORT intra-op threads %d\n",
              model.filename().c_str(), texts.size(), concurrency, engine.value()->intra_op_threads());
  double best_batched = 1e30, best_single = 1e30, cpu_batched = 1e30, cpu_single = 1e30;
  for (int r = 0; r < repeat; ++r) {
    double cb, cs;
    double b = mode != "single" ? RunAll(task, runner, batched, concurrency, &cb) : (cb = 1e30);
    double s = mode != "batched" ? RunAll(task, runner, single, concurrency, &cs) : (cs = 1e30);
    if (b < 0 || s < 0) return 1;
    best_batched = std::min(best_batched, b);
    best_single = std::min(best_single, s);
    cpu_batched = std::min(cpu_batched, cb);
    cpu_single = std::min(cpu_single, cs);
    std::printf(
        "  run %d: batched %.0f texts/s (%.0f per CPU-second), single %.0f texts/s (%.0f per CPU-second)\n",
        r + 1, texts.size() / b, texts.size() / cb, texts.size() / s, texts.size() / cs);
  }
  const double n = static_cast<double>(texts.size());
  std::printf("batched (requests of %zu texts): %.0f texts/s, %.0f texts per CPU-second\n", batch,
              n / best_batched, n / cpu_batched);
  std::printf("single (one text per request):  %.0f texts/s, %.0f texts per CPU-second\n", n / best_single,
              n / cpu_single);
  std::printf("speedup: %.2fx wall, %.2fx CPU\n", best_single / best_batched, cpu_single / cpu_batched);
  repo.Shutdown();
  fs::remove_all(root);
  return 0;
}
