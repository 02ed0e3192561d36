// Helpers shared by the tests of the runtime and of what stands on it (scheduler, repository,
// API, text import): the process's one test engine, FP32 tensors, hand-built protobuf. Test-only.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/tensor.h"
#include "runtime/runtime.h"

namespace continuum::runtime_test {

// ORT allows one environment per process: every test of a binary shares this one (one intra-op
// thread, errors-only logging).
inline runtime::Engine& TestEngine() {
  static std::unique_ptr<runtime::Engine> engine = [] {
    SetLogLevel(LogLevel::kError);
    auto e = runtime::Engine::Create({.intra_op_threads = 1});
    EXPECT_TRUE(e.ok()) << e.status().ToString();
    return std::move(e).value();
  }();
  return *engine;
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

// Protobuf wire format by hand, for the ONNX files the tests build: a varint, and a
// length-delimited field (wire type 2).
inline void AppendVarint(std::string* out, uint64_t n) {
  do {
    uint8_t b = n & 0x7f;
    n >>= 7;
    out->push_back(static_cast<char>(n ? (b | 0x80) : b));
  } while (n);
}

inline std::string Delimited(int field, const std::string& bytes) {
  std::string out;
  AppendVarint(&out, static_cast<uint64_t>(field) << 3 | 2);
  AppendVarint(&out, bytes.size());
  return out + bytes;
}

}  // namespace continuum::runtime_test
