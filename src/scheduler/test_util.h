// Helpers shared by the scheduler's tests (and the repository's): add_sub requests and
// signatures, callback results.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/inference.h"
#include "common/status.h"
#include "runtime/runtime.h"
#include "runtime/test_util.h"
#include "scheduler/scheduler.h"

namespace continuum::scheduler_test {

using runtime_test::Floats;
using runtime_test::FloatTensor;
using runtime_test::TestEngine;

// `n` sessions of a generated test model (tools/gen_test_models.py).
inline std::vector<std::unique_ptr<runtime::Session>> Sessions(const std::string& model, int n = 1) {
  const std::filesystem::path models = CONTINUUM_TEST_MODELS;
  std::vector<std::unique_ptr<runtime::Session>> out;
  for (int i = 0; i < n; ++i) {
    auto s = TestEngine().Load(models / model / "1" / "model.onnx", {});
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (!s.ok()) break;
    out.push_back(std::move(s).value());
  }
  return out;
}

inline std::vector<float> Iota(size_t n, float start) {
  std::vector<float> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = start + static_cast<float>(i);
  return v;
}

// An add_sub request of `rows` rows whose values start at `base` (distinct per request).
inline InferRequest AddSubRequest(int64_t rows, float base) {
  InferRequest r;
  r.model_name = "add_sub";
  r.model_version = 1;
  r.inputs.push_back(FloatTensor("INPUT0", {rows, 16}, Iota(static_cast<size_t>(rows) * 16, base)));
  r.inputs.push_back(
      FloatTensor("INPUT1", {rows, 16}, std::vector<float>(static_cast<size_t>(rows) * 16, 0.5f)));
  return r;
}

inline runtime::TensorSpec Spec(std::string name, DataType dtype, Shape shape) {
  runtime::TensorSpec s{std::move(name), dtype, std::move(shape), {}};
  s.dim_names.resize(s.shape.size());
  return s;
}

inline runtime::ModelSignature AddSubSig() {
  return {{Spec("INPUT0", DataType::kFp32, {-1, 16}), Spec("INPUT1", DataType::kFp32, {-1, 16})},
          {Spec("OUTPUT0", DataType::kFp32, {-1, 16}), Spec("OUTPUT1", DataType::kFp32, {-1, 16})}};
}

// Collects callback results by request index; counts calls so "exactly once" can be checked.
class Results {
 public:
  InferCallback Callback(int i) {
    return [this, i](StatusOr<InferResponse> r) {
      std::lock_guard lock(mu_);
      ++calls_[i];
      results_.insert_or_assign(i, std::move(r));
      cv_.notify_all();
    };
  }
  bool WaitFor(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return results_.size() >= n; });
  }
  size_t size() {
    std::lock_guard lock(mu_);
    return results_.size();
  }
  int calls(int i) {
    std::lock_guard lock(mu_);
    return calls_.count(i) ? calls_[i] : 0;
  }
  // Valid once the callback ran (results are not modified afterwards).
  const StatusOr<InferResponse>& at(int i) {
    std::lock_guard lock(mu_);
    return results_.at(i);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, int> calls_;
  std::map<int, StatusOr<InferResponse>> results_;
};

}  // namespace continuum::scheduler_test
