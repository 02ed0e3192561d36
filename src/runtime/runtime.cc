#include "runtime/runtime.h"

#include <onnxruntime_cxx_api.h>

#include <algorithm>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <cstring>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "common/enum_names.h"

namespace continuum::runtime {
namespace {

StatusOr<DataType> FromOnnx(ONNXTensorElementDataType t) {
  switch (t) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return DataType::kBool;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return DataType::kUint8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16: return DataType::kUint16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32: return DataType::kUint32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64: return DataType::kUint64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return DataType::kInt8;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16: return DataType::kInt16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return DataType::kInt32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return DataType::kInt64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return DataType::kFp16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16: return DataType::kBf16;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return DataType::kFp32;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return DataType::kFp64;
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING: return DataType::kBytes;
    default:
      return Unimplemented("ONNX element type " + std::to_string(static_cast<int>(t)) +
                           " has no KServe v2 datatype");
  }
}

ONNXTensorElementDataType ToOnnx(DataType t) {
  switch (t) {
    case DataType::kBool: return ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL;
    case DataType::kUint8: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8;
    case DataType::kUint16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT16;
    case DataType::kUint32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT32;
    case DataType::kUint64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT64;
    case DataType::kInt8: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8;
    case DataType::kInt16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT16;
    case DataType::kInt32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32;
    case DataType::kInt64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64;
    case DataType::kFp16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16;
    case DataType::kBf16: return ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16;
    case DataType::kFp32: return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT;
    case DataType::kFp64: return ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE;
    case DataType::kBytes: return ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING;
  }
  return ONNX_TENSOR_ELEMENT_DATA_TYPE_UNDEFINED;
}

StatusOr<TensorSpec> SpecFromTypeInfo(const std::string& name, const Ort::TypeInfo& info) {
  if (info.GetONNXType() != ONNX_TYPE_TENSOR) {
    return Unimplemented("'" + name + "' is not a tensor (ONNX type " +
                         std::to_string(static_cast<int>(info.GetONNXType())) +
                         "); the v2 protocol carries tensors only");
  }
  auto t = info.GetTensorTypeAndShapeInfo();
  TensorSpec spec;
  spec.name = name;
  auto dtype = FromOnnx(t.GetElementType());
  if (!dtype.ok()) return dtype.status().WithContext("'" + name + "'");
  spec.dtype = *dtype;
  spec.shape = t.GetShape();
  auto symbolic = t.GetSymbolicDimensions();
  spec.dim_names.resize(spec.shape.size());
  for (size_t i = 0; i < spec.shape.size(); ++i) {
    if (spec.shape[i] < 0) spec.shape[i] = -1;
    if (i < symbolic.size() && symbolic[i] != nullptr) spec.dim_names[i] = symbolic[i];
  }
  return spec;
}

class OrtSession final : public Session {
 public:
  OrtSession(Ort::Session session, ModelSignature sig, std::string ep, std::string fallback, CpuArena arena)
      : session_(std::move(session)),
        sig_(std::move(sig)),
        ep_(std::move(ep)),
        fallback_(std::move(fallback)),
        cpu_(Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault)) {
    for (size_t i = 0; i < sig_.inputs.size(); ++i) input_index_[sig_.inputs[i].name] = i;
    for (size_t i = 0; i < sig_.outputs.size(); ++i) output_index_[sig_.outputs[i].name] = i;
    // Regions of the arena left wholly free at the end of a run go back to the system.
    if (arena == CpuArena::kShrink)
      run_options_.AddConfigEntry("memory.enable_memory_arena_shrinkage", "cpu:0");
  }

  const ModelSignature& signature() const override { return sig_; }
  const std::string& execution_provider() const override { return ep_; }
  const std::string& fallback_reason() const override { return fallback_; }

  StatusOr<std::vector<Tensor>> Run(std::span<const Tensor* const> inputs,
                                    std::span<const std::string> output_names) override {
    try {
      return RunImpl(inputs, output_names);
    } catch (const Ort::Exception& e) {
      return Internal(std::string("onnxruntime: ") + e.what());
    } catch (const std::exception& e) {
      return Internal(std::string("inference failed: ") + e.what());
    }
  }

 private:
  StatusOr<std::vector<Tensor>> RunImpl(std::span<const Tensor* const> inputs,
                                        std::span<const std::string> output_names) {
    std::vector<const char*> in_names;
    std::vector<Ort::Value> in_values;
    in_names.reserve(inputs.size());
    in_values.reserve(inputs.size());
    Ort::AllocatorWithDefaultOptions allocator;
    for (const Tensor* t : inputs) {
      auto it = input_index_.find(t->name);
      if (it == input_index_.end()) return InvalidArgument("unknown input '" + t->name + "'");
      in_names.push_back(sig_.inputs[it->second].name.c_str());
      if (t->dtype == DataType::kBytes) {
        ASSIGN_OR_RETURN(auto parts, SplitBytesElements(t->data, t->NumElements()));
        auto v = Ort::Value::CreateTensor(allocator, t->shape.data(), t->shape.size(),
                                          ONNX_TENSOR_ELEMENT_DATA_TYPE_STRING);
        // ORT copies the strings. FillStringTensorElement takes C strings and would cut an
        // element at its first NUL byte, so each element is copied with its explicit length.
        for (size_t i = 0; i < parts.size(); ++i) {
          char* dst = v.GetResizedStringTensorElementBuffer(i, parts[i].size());
          if (!parts[i].empty()) std::memcpy(dst, parts[i].data(), parts[i].size());
        }
        in_values.push_back(std::move(v));
      } else {
        in_values.push_back(Ort::Value::CreateTensor(cpu_, const_cast<char*>(t->data.data()), t->data.size(),
                                                     t->shape.data(), t->shape.size(), ToOnnx(t->dtype)));
      }
    }

    std::vector<const char*> out_names;
    std::vector<size_t> out_idx;
    if (output_names.empty()) {
      for (size_t i = 0; i < sig_.outputs.size(); ++i) {
        out_names.push_back(sig_.outputs[i].name.c_str());
        out_idx.push_back(i);
      }
    } else {
      for (const auto& n : output_names) {
        auto it = output_index_.find(n);
        if (it == output_index_.end()) return InvalidArgument("unknown output '" + n + "'");
        out_names.push_back(sig_.outputs[it->second].name.c_str());
        out_idx.push_back(it->second);
      }
    }

    auto outs = session_.Run(run_options_, in_names.data(), in_values.data(), in_values.size(),
                             out_names.data(), out_names.size());

    std::vector<Tensor> result(outs.size());
    for (size_t i = 0; i < outs.size(); ++i) {
      Tensor& r = result[i];
      const TensorSpec& spec = sig_.outputs[out_idx[i]];
      r.name = spec.name;
      if (!outs[i].IsTensor()) return Internal("output '" + spec.name + "' is not a tensor");
      auto info = outs[i].GetTensorTypeAndShapeInfo();
      ASSIGN_OR_RETURN(r.dtype, FromOnnx(info.GetElementType()));
      r.shape = info.GetShape();
      size_t n = info.GetElementCount();
      if (r.dtype == DataType::kBytes) {
        size_t total = outs[i].GetStringTensorDataLength();
        r.data.reserve(total + 4 * n);
        std::string buf;
        for (size_t e = 0; e < n; ++e) {
          buf.resize(outs[i].GetStringTensorElementLength(e));
          if (!buf.empty()) outs[i].GetStringTensorElement(buf.size(), e, buf.data());
          AppendBytesElement(r.data, buf);
        }
      } else {
        size_t bytes = n * ElementSize(r.dtype);
        r.data.resize(bytes);
        if (bytes) std::memcpy(r.data.data(), outs[i].GetTensorRawData(), bytes);
      }
    }
    return result;
  }

  Ort::Session session_;
  ModelSignature sig_;
  std::string ep_;
  std::string fallback_;
  Ort::MemoryInfo cpu_;
  Ort::RunOptions run_options_;
  std::unordered_map<std::string, size_t> input_index_;
  std::unordered_map<std::string, size_t> output_index_;
};

class OrtEngine final : public Engine {
 public:
  OrtEngine(Ort::Env env, int threads, CpuArena arena)
      : env_(std::move(env)), threads_(threads), arena_(arena) {}

  int intra_op_threads() const override { return threads_; }
  CpuArena cpu_arena() const override { return arena_; }

  StatusOr<std::unique_ptr<Session>> Load(const std::filesystem::path& path,
                                          const SessionOptions& options) override {
    RETURN_IF_ERROR(CheckModelFile(path));
    std::string fallback;
    for (const auto& ep : options.execution_providers) {
      if (ep != "cpu" && ep != "cuda") {
        return InvalidArgument("unknown execution provider '" + ep + "' (known: cuda, cpu)");
      }
    }
    for (const auto& ep : options.execution_providers) {
      if (ep == "cpu") break;
      auto s = TryLoad(path, options, ep, "");
      if (s.ok()) return s;
      if (s.status().code() != StatusCode::kUnavailable) return s.status();
      fallback += (fallback.empty() ? "" : "; ") + s.status().message();
    }
    return TryLoad(path, options, "cpu", fallback);
  }

  StatusOr<std::unique_ptr<Session>> TryLoad(const std::filesystem::path& path, const SessionOptions& options,
                                             const std::string& ep, const std::string& fallback) {
    try {
      Ort::SessionOptions so;
      so.DisablePerSessionThreads();
      switch (arena_) {
        case CpuArena::kShrink: so.AddConfigEntry("session.use_env_allocators", "1"); break;
        case CpuArena::kKeep: break;
        case CpuArena::kOff: so.DisableCpuMemArena(); break;
      }
      so.SetGraphOptimizationLevel(
          options.graph_optimization_level >= 99  ? GraphOptimizationLevel::ORT_ENABLE_ALL
          : options.graph_optimization_level >= 2 ? GraphOptimizationLevel::ORT_ENABLE_EXTENDED
          : options.graph_optimization_level >= 1 ? GraphOptimizationLevel::ORT_ENABLE_BASIC
                                                  : GraphOptimizationLevel::ORT_DISABLE_ALL);
      if (ep == "cuda") {
        // The CUDA provider is a separate library that ORT loads beside the CPU library
        // (tools/setup.sh --gpu); it needs an NVIDIA GPU with its driver.
        std::error_code ec;
        if (!std::filesystem::exists("/dev/nvidiactl", ec) &&
            !std::filesystem::exists("/proc/driver/nvidia/version", ec)) {
          return Unavailable("CUDA execution provider unavailable: no NVIDIA GPU on this machine");
        }
        try {
          OrtCUDAProviderOptions cuda{};
          so.AppendExecutionProvider_CUDA(cuda);
        } catch (const Ort::Exception& e) {
          return Unavailable(std::string("CUDA execution provider unavailable: ") + e.what());
        }
      }
      Ort::Session session(env_, path.c_str(), so);
      ModelSignature sig;
      Ort::AllocatorWithDefaultOptions alloc;
      for (size_t i = 0; i < session.GetInputCount(); ++i) {
        std::string name = session.GetInputNameAllocated(i, alloc).get();
        ASSIGN_OR_RETURN(auto spec, SpecFromTypeInfo(name, session.GetInputTypeInfo(i)));
        sig.inputs.push_back(std::move(spec));
      }
      for (size_t i = 0; i < session.GetOutputCount(); ++i) {
        std::string name = session.GetOutputNameAllocated(i, alloc).get();
        ASSIGN_OR_RETURN(auto spec, SpecFromTypeInfo(name, session.GetOutputTypeInfo(i)));
        sig.outputs.push_back(std::move(spec));
      }
      return std::unique_ptr<Session>(
          new OrtSession(std::move(session), std::move(sig), ep, fallback, arena_));
    } catch (const Ort::Exception& e) {
      return InvalidArgument("onnxruntime cannot load " + path.string() + ": " + e.what());
    }
  }

 private:
  Ort::Env env_;
  int threads_;
  CpuArena arena_;
};

}  // namespace

StatusOr<std::unique_ptr<Engine>> Engine::Create(const EngineOptions& options) {
  int threads = options.intra_op_threads > 0
                    ? options.intra_op_threads
                    : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  try {
    Ort::ThreadingOptions tp;
    tp.SetGlobalIntraOpNumThreads(threads);
    tp.SetGlobalInterOpNumThreads(std::max(1, options.inter_op_threads));
    tp.SetGlobalSpinControl(options.allow_spinning ? 1 : 0);
    Ort::Env env(tp, ORT_LOGGING_LEVEL_ERROR, "continuum");
    if (options.cpu_arena == CpuArena::kShrink) {
#ifdef __GLIBC__
      if (options.own_malloc) {
        // The arena's regions come from malloc. glibc raises its mmap threshold after the first
        // large block is freed (up to 32 MiB), and keeps later large blocks in its heap, where
        // freed memory mostly stays: a fixed 1 MiB threshold maps every large block on its own, so
        // a shrunk region goes back to the system (measured after four concurrent OCR requests of
        // a dense page: 811 MB still held without it, 154 MB with it).
        mallopt(M_MMAP_THRESHOLD, 1 << 20);
      }
#endif
      // One CPU arena for every session (session.use_env_allocators), extended by what is asked
      // (arena_extend_strategy 1: kSameAsRequested) rather than in powers of two, so a shrink
      // at the end of a run can hand back exactly the regions a large run added.
      Ort::ArenaCfg cfg(/*max_mem=*/0, /*arena_extend_strategy=*/1, /*initial_chunk_size_bytes=*/-1,
                        /*max_dead_bytes_per_chunk=*/-1);
      Ort::MemoryInfo cpu = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
      try {
        env.CreateAndRegisterAllocator(cpu, cfg);
      } catch (const Ort::Exception& e) {
        // The environment is one per process: a second Engine finds the arena already there.
        if (std::string_view(e.what()).find("already been registered") == std::string_view::npos) throw;
      }
    }
    return std::unique_ptr<Engine>(new OrtEngine(std::move(env), threads, options.cpu_arena));
  } catch (const Ort::Exception& e) {
    return Internal(std::string("cannot create the ONNX Runtime environment: ") + e.what());
  }
}

namespace {
constexpr EnumName<CpuArena> kCpuArenaNames[] = {
    {CpuArena::kShrink, "shrink"}, {CpuArena::kKeep, "keep"}, {CpuArena::kOff, "off"}};
}  // namespace

StatusOr<CpuArena> ParseCpuArena(std::string_view name) {
  if (std::optional<CpuArena> arena = ValueOf(kCpuArenaNames, name)) return *arena;
  return InvalidArgument("unknown CPU arena mode '" + std::string(name) +
                         "' (known: " + NameList(kCpuArenaNames, ", ", ", ") + ")");
}

std::string_view CpuArenaName(CpuArena arena) { return NameOf(kCpuArenaNames, arena, "shrink"); }

std::vector<std::string> Engine::AvailableProviders() {
  try {
    return Ort::GetAvailableProviders();
  } catch (const Ort::Exception&) {
    return {"CPUExecutionProvider"};
  }
}

std::string Engine::OrtVersion() { return Ort::GetVersionString(); }

}  // namespace continuum::runtime
