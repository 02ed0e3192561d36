// Helpers shared by the scheduler's tests: add_sub requests and signatures.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "common/inference.h"
#include "runtime/runtime.h"

namespace continuum::scheduler_test {

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
