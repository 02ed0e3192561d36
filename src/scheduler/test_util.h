// Helpers shared by the scheduler's tests: add_sub requests and signatures.
#pragma once

#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/inference.h"
#include "runtime/runtime.h"

namespace continuum::scheduler_test {

// ORT allows one environment per process.
inline runtime::Engine& TestEngine() {
  static std::unique_ptr<runtime::Engine> engine = [] {
    auto e = runtime::Engine::Create({.intra_op_threads = 1});
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return std::move(e).value();
  }();
  return *engine;
}

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

inline Tensor FloatTensor(std::string name, Shape shape, const std::vector<float>& v) {
  Tensor t{std::move(name), DataType::kFp32, std::move(shape), std::string(v.size() * 4, '\0')};
  if (!v.empty()) std::memcpy(t.data.data(), v.data(), t.data.size());
  return t;
}

inline std::vector<float> Floats(const Tensor& t) {
  std::vector<float> v(t.data.size() / 4);
  if (!v.empty()) std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
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

}  // namespace continuum::scheduler_test
