// continuum_inproc_bench: the in-process baseline for bench/serve_overhead.py.
//
// Loads one model with Continuum's own runtime layer (runtime::Engine, the same ONNX Runtime
// environment options `continuum serve` uses: one global intra-op pool, spinning off) and calls
// Session::Run in a loop on a fixed input. No HTTP, no JSON, no scheduler: this is what the
// model costs when the application links ONNX Runtime directly.
//
// Two phases:
//   latency     1 thread, runs back to back; per-run latency percentiles
//   throughput  N threads calling Run on the one session concurrently; runs/s (and percentiles)
//
// Inputs are built from the model's signature: dynamic dimensions become --batch (first
// dimension) or 1, and element i of input k holds ((i*7 + k*3) % 13) * 0.25 - 1.5, the same
// values bench/benchlib.py puts in the HTTP requests (FP32 and INT64 inputs are supported).
//
// Usage:
//   continuum_inproc_bench --model PATH/model.onnx [--intra-op-threads 1] [--threads N]
//                          [--batch 1] [--duration SECONDS] [--warmup SECONDS]
//                          [--phase latency|throughput|both] [--json]
#include <sched.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "common/tensor.h"
#include "runtime/runtime.h"

namespace {

using Clock = std::chrono::steady_clock;
using continuum::DataType;
using continuum::Tensor;

struct Options {
  std::string model;
  int intra_op_threads = 1;
  int threads = 0;  // throughput phase; 0: the number of CPUs this process may run on
  int64_t batch = 1;
  double duration_s = 5;
  double warmup_s = 1;
  std::string phase = "both";
  bool json = false;
};

[[noreturn]] void Usage(const char* msg) {
  if (msg) std::fprintf(stderr, "continuum_inproc_bench: %s\n", msg);
  std::fprintf(stderr,
               "usage: continuum_inproc_bench --model FILE [--intra-op-threads K] [--threads N] [--batch B]\n"
               "                              [--duration S] [--warmup S] [--phase latency|throughput|both] "
               "[--json]\n");
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage((a + " needs a value").c_str());
      return argv[++i];
    };
    if (a == "--model")
      o.model = value();
    else if (a == "--intra-op-threads")
      o.intra_op_threads = std::atoi(value().c_str());
    else if (a == "--threads")
      o.threads = std::atoi(value().c_str());
    else if (a == "--batch")
      o.batch = std::atoll(value().c_str());
    else if (a == "--duration")
      o.duration_s = std::atof(value().c_str());
    else if (a == "--warmup")
      o.warmup_s = std::atof(value().c_str());
    else if (a == "--phase")
      o.phase = value();
    else if (a == "--json")
      o.json = true;
    else if (a == "-h" || a == "--help")
      Usage(nullptr);
    else
      Usage(("unknown argument " + a).c_str());
  }
  if (o.model.empty()) Usage("--model is required");
  if (o.phase != "latency" && o.phase != "throughput" && o.phase != "both") Usage("bad --phase");
  if (o.threads <= 0) {
    cpu_set_t set;
    o.threads = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set) : 1;
  }
  return o;
}

std::vector<Tensor> MakeInputs(const continuum::runtime::ModelSignature& sig, int64_t batch) {
  std::vector<Tensor> inputs;
  for (size_t k = 0; k < sig.inputs.size(); ++k) {
    const auto& spec = sig.inputs[k];
    Tensor t;
    t.name = spec.name;
    t.dtype = spec.dtype;
    t.shape = spec.shape;
    for (size_t d = 0; d < t.shape.size(); ++d) {
      if (t.shape[d] < 0) t.shape[d] = d == 0 ? batch : 1;
    }
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    auto value = [k](int64_t i) {
      return static_cast<double>((i * 7 + static_cast<int64_t>(k) * 3) % 13) * 0.25 - 1.5;
    };
    if (spec.dtype == DataType::kFp32) {
      std::vector<float> v(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<float>(value(i));
      t.data.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
    } else if (spec.dtype == DataType::kInt64) {
      std::vector<int64_t> v(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = static_cast<int64_t>(value(i) * 4);
      t.data.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(int64_t));
    } else {
      std::fprintf(stderr, "continuum_inproc_bench: input %s: only FP32 and INT64 inputs are supported\n",
                   spec.name.c_str());
      std::exit(1);
    }
    inputs.push_back(std::move(t));
  }
  return inputs;
}

struct PhaseResult {
  int threads = 0;
  double seconds = 0;
  int64_t runs = 0;
  std::vector<uint32_t> latencies_ns;
  double rps() const { return seconds > 0 ? static_cast<double>(runs) / seconds : 0; }
  double Pct(double p) const {
    if (latencies_ns.empty()) return 0;
    size_t r = std::min(latencies_ns.size() - 1,
                        static_cast<size_t>(p / 100.0 * static_cast<double>(latencies_ns.size())));
    return latencies_ns[r] / 1000.0;
  }
  double Mean() const {
    double s = 0;
    for (uint32_t v : latencies_ns) s += v;
    return latencies_ns.empty() ? 0 : s / static_cast<double>(latencies_ns.size()) / 1000.0;
  }
};

PhaseResult RunPhase(continuum::runtime::Session* session, const std::vector<Tensor>& inputs, int threads,
                     double warmup_s, double duration_s) {
  std::vector<const Tensor*> ptrs;
  for (const auto& t : inputs) ptrs.push_back(&t);
  const auto start = Clock::now();
  const auto measure_from =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup_s));
  const auto stop_at =
      measure_from + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration_s));
  std::vector<std::vector<uint32_t>> lat(threads);
  std::atomic<bool> failed{false};
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) {
    pool.emplace_back([&, i] {
      lat[i].reserve(1 << 20);
      while (!failed) {
        const auto t0 = Clock::now();
        if (t0 >= stop_at) break;
        auto out = session->Run(ptrs, {});
        const auto t1 = Clock::now();
        if (!out.ok()) {
          std::fprintf(stderr, "continuum_inproc_bench: Run failed: %s\n", out.status().message().c_str());
          failed = true;
          break;
        }
        if (t0 >= measure_from && t1 < stop_at) {
          auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
          lat[i].push_back(static_cast<uint32_t>(std::min<int64_t>(ns, UINT32_MAX)));
        }
      }
    });
  }
  for (auto& t : pool) t.join();
  if (failed) std::exit(1);
  PhaseResult r;
  r.threads = threads;
  r.seconds = duration_s;
  for (auto& v : lat) r.latencies_ns.insert(r.latencies_ns.end(), v.begin(), v.end());
  r.runs = static_cast<int64_t>(r.latencies_ns.size());
  std::sort(r.latencies_ns.begin(), r.latencies_ns.end());
  return r;
}

void Print(const char* name, const PhaseResult& r, bool json, bool last) {
  if (json) {
    std::printf(
        "\"%s\":{\"threads\":%d,\"runs\":%lld,\"rps\":%.1f,\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,"
        "\"p999_us\":%.1f,\"mean_us\":%.1f}%s",
        name, r.threads, static_cast<long long>(r.runs), r.rps(), r.Pct(50), r.Pct(90), r.Pct(99),
        r.Pct(99.9), r.Mean(), last ? "" : ",");
  } else {
    std::printf(
        "%-10s threads %d  runs %lld  %.1f runs/s  p50 %.1f us  p90 %.1f us  p99 %.1f us  mean %.1f us\n",
        name, r.threads, static_cast<long long>(r.runs), r.rps(), r.Pct(50), r.Pct(90), r.Pct(99), r.Mean());
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseArgs(argc, argv);
  auto engine = continuum::runtime::Engine::Create({.intra_op_threads = o.intra_op_threads});
  if (!engine.ok()) {
    std::fprintf(stderr, "continuum_inproc_bench: %s\n", engine.status().message().c_str());
    return 1;
  }
  auto session = (*engine)->Load(o.model, {});
  if (!session.ok()) {
    std::fprintf(stderr, "continuum_inproc_bench: %s\n", session.status().message().c_str());
    return 1;
  }
  auto inputs = MakeInputs((*session)->signature(), o.batch);

  bool lat = o.phase != "throughput", thr = o.phase != "latency";
  PhaseResult lr, tr;
  if (lat) lr = RunPhase(session->get(), inputs, 1, o.warmup_s, o.duration_s);
  if (thr) tr = RunPhase(session->get(), inputs, o.threads, o.warmup_s, o.duration_s);
  if (o.json) {
    std::printf("{\"intra_op_threads\":%d,\"batch\":%lld,", (*engine)->intra_op_threads(),
                static_cast<long long>(o.batch));
    if (lat) Print("latency", lr, true, !thr);
    if (thr) Print("throughput", tr, true, true);
    std::printf("}\n");
  } else {
    std::printf("model %s  intra-op threads %d  batch %lld\n", o.model.c_str(), (*engine)->intra_op_threads(),
                static_cast<long long>(o.batch));
    if (lat) Print("latency", lr, false, false);
    if (thr) Print("throughput", tr, false, true);
  }
  return 0;
}
