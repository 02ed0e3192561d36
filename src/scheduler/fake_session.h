// A scriptable session for the scheduler's tests (callback results are collected by test_util.h's
// Results): what ran, in which batches, held at a gate so that queueing is observable without timing.
#pragma once

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/inference.h"
#include "runtime/runtime.h"
#include "scheduler/scheduler.h"
#include "scheduler/test_util.h"

namespace continuum::scheduler_test {

using namespace std::chrono_literals;  // NOLINT
using Clock = std::chrono::steady_clock;

// A scriptable session: x FP32 [-1,-1] -> y = x and z = x. Records what it ran and can hold
// runs at a gate, which makes concurrency and queueing observable without timing.
struct Probe {
  std::mutex mu;
  std::condition_variable cv;
  bool gate_open = true;
  int started = 0;
  int running = 0;
  int max_running = 0;
  std::vector<Shape> shapes;                        // input shape per run
  std::vector<std::vector<std::string>> requested;  // output names per run
  Status fail;                                      // returned by every run when not OK
  bool drop_batch_dim = false;                      // outputs keep only the first row

  void Close() {
    std::lock_guard lock(mu);
    gate_open = false;
  }
  void Open() {
    {
      std::lock_guard lock(mu);
      gate_open = true;
    }
    cv.notify_all();
  }
  bool WaitStarted(int n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, timeout, [&] { return started >= n; });
  }
};

class FakeSession final : public runtime::Session {
 public:
  explicit FakeSession(std::shared_ptr<Probe> probe) : probe_(std::move(probe)) {
    sig_.inputs.push_back({"x", DataType::kFp32, {-1, -1}, {"batch", ""}});
    sig_.outputs.push_back({"y", DataType::kFp32, {-1, -1}, {"batch", ""}});
    sig_.outputs.push_back({"z", DataType::kFp32, {-1, -1}, {"batch", ""}});
  }
  const runtime::ModelSignature& signature() const override { return sig_; }
  const std::string& execution_provider() const override { return ep_; }
  const std::string& fallback_reason() const override { return fallback_; }

  StatusOr<std::vector<Tensor>> Run(std::span<const Tensor* const> inputs,
                                    std::span<const std::string> output_names) override {
    Probe& p = *probe_;
    {
      std::unique_lock lock(p.mu);
      ++p.started;
      p.max_running = std::max(p.max_running, ++p.running);
      p.shapes.push_back(inputs[0]->shape);
      p.requested.emplace_back(output_names.begin(), output_names.end());
      p.cv.notify_all();
      p.cv.wait(lock, [&] { return p.gate_open; });
      --p.running;
      if (!p.fail.ok()) return p.fail;
    }
    std::vector<std::string> names(output_names.begin(), output_names.end());
    if (names.empty()) names = {"y", "z"};
    std::vector<Tensor> out;
    for (const auto& n : names) {
      Tensor t = *inputs[0];
      t.name = n;
      if (probe_->drop_batch_dim) {
        size_t row_bytes = t.data.size() / static_cast<size_t>(t.shape[0]);
        t.shape[0] = 1;
        t.data.resize(row_bytes);
      }
      out.push_back(std::move(t));
    }
    return out;
  }

 private:
  std::shared_ptr<Probe> probe_;
  runtime::ModelSignature sig_;
  std::string ep_ = "cpu", fallback_;
};

inline std::vector<std::unique_ptr<runtime::Session>> Fakes(const std::shared_ptr<Probe>& probe, int n = 1) {
  std::vector<std::unique_ptr<runtime::Session>> out;
  for (int i = 0; i < n; ++i) out.push_back(std::make_unique<FakeSession>(probe));
  return out;
}

inline InferRequest FakeRequest(int64_t rows, int64_t cols, float base) {
  InferRequest r;
  r.inputs.push_back(FloatTensor("x", {rows, cols}, Iota(static_cast<size_t>(rows * cols), base)));
  return r;
}

}  // namespace continuum::scheduler_test
