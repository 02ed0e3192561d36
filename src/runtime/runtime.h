// The only component that includes ONNX Runtime. It loads ONNX models into sessions and runs
// native Tensors through them.
//
// Threading: one Engine per process owns ORT's environment and its global intra-op thread pool,
// sized once for the whole process, so several models (and several instances of one model) share
// one CPU budget instead of each spawning a pool. Session::Run is thread-safe (ORT allows
// concurrent Run calls on one session); callers decide how many run at once.
#pragma once

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "common/tensor.h"

namespace continuum::runtime {

// A graph input or output. Dimensions are -1 where the graph leaves them dynamic.
struct TensorSpec {
  std::string name;
  DataType dtype = DataType::kFp32;
  Shape shape;
  std::vector<std::string> dim_names;  // symbolic names ("batch"), empty where fixed or unnamed
};

struct ModelSignature {
  std::vector<TensorSpec> inputs;
  std::vector<TensorSpec> outputs;
};

// The CPU memory arena ORT takes tensor memory from (inputs it allocates, intermediate values,
// outputs).
//   kShrink  (default) one arena for the whole process, shared by every session, extended by
//            exactly what a run asks for (ORT's kSameAsRequested) and shrunk at the end of each
//            run: the memory one large request needed goes back when it is done (with glibc,
//            fully only with EngineOptions::own_malloc, below).
//   kKeep    ORT's default: an arena per session that grows in powers of two and keeps its
//            high-water mark for the life of the session.
//   kOff     no arena: every allocation goes to malloc and back.
enum class CpuArena { kShrink, kKeep, kOff };
StatusOr<CpuArena> ParseCpuArena(std::string_view name);  // "shrink", "keep", "off"
std::string_view CpuArenaName(CpuArena arena);

struct EngineOptions {
  int intra_op_threads = 0;  // size of the global pool; 0: one per core
  int inter_op_threads = 1;
  bool allow_spinning = false;  // spinning trades idle CPU for latency; off by default
  CpuArena cpu_arena = CpuArena::kShrink;
  // With kShrink and glibc: fix malloc's mmap threshold at 1 MiB for the whole process, so the
  // large blocks the arena frees are unmapped rather than kept in malloc's heap. A setting of the
  // process, not of the engine: only a program that owns its process sets it (`continuum serve`,
  // `continuum gateway`), never a library embedded in someone else's application.
  bool own_malloc = false;
};

struct SessionOptions {
  // Providers in order of preference: "cuda", "cpu". CPU is always the last resort.
  std::vector<std::string> execution_providers = {"cpu"};
  int graph_optimization_level = 99;  // 0 disable, 1 basic, 2 extended, 99 all
};

class Session {
 public:
  virtual ~Session() = default;
  virtual const ModelSignature& signature() const = 0;
  // The provider that actually runs the model ("cpu" or "cuda") and, when a preferred one could
  // not be used, why (empty otherwise).
  virtual const std::string& execution_provider() const = 0;
  virtual const std::string& fallback_reason() const = 0;
  // Runs the model. `inputs` must match the signature's names (any order); `output_names` picks
  // outputs (empty: all). Inputs are not copied: ORT reads the tensors' buffers in place.
  virtual StatusOr<std::vector<Tensor>> Run(std::span<const Tensor* const> inputs,
                                            std::span<const std::string> output_names) = 0;
};

class Engine {
 public:
  virtual ~Engine() = default;
  static StatusOr<std::unique_ptr<Engine>> Create(const EngineOptions& options);
  // Checks the file (see CheckModelFile), then builds a session.
  virtual StatusOr<std::unique_ptr<Session>> Load(const std::filesystem::path& model_path,
                                                  const SessionOptions& options) = 0;
  virtual int intra_op_threads() const = 0;
  virtual CpuArena cpu_arena() const = 0;
  // Providers this ORT build can offer ("CPUExecutionProvider", ...).
  static std::vector<std::string> AvailableProviders();
  static std::string OrtVersion();
};

// Cheap structural check of an ONNX file, before ORT sees it: it must parse as a protobuf
// ModelProto with a graph, and every tensor stored as external data (see ListExternalData) must
// name a relative location whose real path is a regular file inside the model's folder (no
// absolute paths, no "..", no symlink leaving it, no FIFO or device; see ResolveInside in
// common/paths.h) or does not exist yet (ORT reports it), and never ORT's in-memory address tag.
Status CheckModelFile(const std::filesystem::path& model_path);

// A tensor stored as external data: its name and the file its "location" entry names.
struct ExternalData {
  std::string tensor;
  std::string location;
};

// Every external-data location in an ONNX model, one entry per location: initializers, sparse
// initializers, tensor attributes (Constant values), subgraphs in attributes (If / Loop / Scan
// bodies), model-local functions (bodies and attribute defaults) and training graphs.
// kInvalidArgument when the bytes are not a ModelProto with a graph.
StatusOr<std::vector<ExternalData>> ListExternalData(std::string_view model_bytes);

}  // namespace continuum::runtime
