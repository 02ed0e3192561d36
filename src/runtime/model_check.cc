// A minimal protobuf wire-format walk over an ONNX ModelProto. It validates the framing and
// collects the external-data locations of every tensor ORT may load: initializers, sparse
// initializers, tensor attributes (Constant values and the like), nested subgraphs (If / Loop /
// Scan bodies), model-local functions (their bodies and attribute defaults) and training graphs,
// without a protobuf dependency.
#include <cstdint>
#include <fstream>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/paths.h"
#include "common/protobuf_wire.h"
#include "runtime/runtime.h"

namespace continuum::runtime {
namespace {

// ModelProto / GraphProto / NodeProto / AttributeProto / FunctionProto / TrainingInfoProto /
// TensorProto field numbers (onnx.proto3).
constexpr uint32_t kModelGraph = 7;
constexpr uint32_t kModelTrainingInfo = 20;
constexpr uint32_t kModelFunctions = 25;
constexpr uint32_t kTrainingInitialization = 1;
constexpr uint32_t kTrainingAlgorithm = 2;
constexpr uint32_t kFunctionNode = 7;
constexpr uint32_t kFunctionAttributeProto = 11;
constexpr uint32_t kGraphNode = 1;
constexpr uint32_t kGraphInitializer = 5;
constexpr uint32_t kGraphSparseInitializer = 15;
constexpr uint32_t kNodeAttribute = 5;
constexpr uint32_t kAttrTensor = 5;
constexpr uint32_t kAttrGraph = 6;
constexpr uint32_t kAttrTensors = 10;
constexpr uint32_t kAttrGraphs = 11;
constexpr uint32_t kAttrSparseTensor = 22;
constexpr uint32_t kAttrSparseTensors = 23;
constexpr uint32_t kSparseValues = 1;
constexpr uint32_t kSparseIndices = 2;
constexpr uint32_t kTensorName = 8;
constexpr uint32_t kTensorExternalData = 13;
constexpr uint32_t kEntryKey = 1;
constexpr uint32_t kEntryValue = 2;
constexpr int kMaxDepth = 64;

using protobuf::Field;
using Reader = protobuf::WireReader;

// What ORT reads as "the offset is an address in this process" instead of a file name.
constexpr std::string_view kOrtMemoryAddressTag = "*/_ORT_MEM_ADDR_/*";

struct Walk {
  std::vector<ExternalData> external;
  std::string error;

  bool Fail(std::string m) {
    if (error.empty()) error = std::move(m);
    return false;
  }

  // Calls visit(field) for each length-delimited field of a `what` message; false on broken
  // framing or when visit returns false.
  template <class Visit>
  bool Fields(std::string_view bytes, std::string_view what, Visit visit) {
    Reader r(bytes);
    Field f;
    while (!r.done()) {
      if (!r.Next(&f)) return Fail("malformed " + std::string(what));
      if (f.wire_type == 2 && !visit(f)) return false;
    }
    return true;
  }

  bool Tensor(std::string_view bytes) {
    std::string name;
    std::vector<std::string> locations;
    const bool ok = Fields(bytes, "TensorProto", [&](const Field& f) {
      if (f.number == kTensorName) name = std::string(f.bytes);
      if (f.number != kTensorExternalData) return true;
      std::string key, value;
      const bool entry_ok = Fields(f.bytes, "external_data entry", [&](const Field& ef) {
        if (ef.number == kEntryKey) key = std::string(ef.bytes);
        if (ef.number == kEntryValue) value = std::string(ef.bytes);
        return true;
      });
      if (entry_ok && key == "location") locations.push_back(value);
      return entry_ok;
    });
    if (!ok) return false;
    for (auto& l : locations) external.push_back({name, std::move(l)});
    return true;
  }

  bool Sparse(std::string_view bytes) {
    return Fields(bytes, "SparseTensorProto", [&](const Field& f) {
      return (f.number != kSparseValues && f.number != kSparseIndices) || Tensor(f.bytes);
    });
  }

  bool Attribute(std::string_view bytes, int depth) {
    return Fields(bytes, "AttributeProto", [&](const Field& f) {
      if (f.number == kAttrTensor || f.number == kAttrTensors) return Tensor(f.bytes);
      if (f.number == kAttrSparseTensor || f.number == kAttrSparseTensors) return Sparse(f.bytes);
      if (f.number == kAttrGraph || f.number == kAttrGraphs) return Graph(f.bytes, depth + 1);
      return true;
    });
  }

  bool Node(std::string_view bytes, int depth) {
    return Fields(bytes, "NodeProto",
                  [&](const Field& f) { return f.number != kNodeAttribute || Attribute(f.bytes, depth); });
  }

  bool Graph(std::string_view bytes, int depth) {
    if (depth > kMaxDepth) return Fail("subgraphs nested too deeply");
    return Fields(bytes, "GraphProto", [&](const Field& f) {
      if (f.number == kGraphNode) return Node(f.bytes, depth);
      if (f.number == kGraphInitializer) return Tensor(f.bytes);
      if (f.number == kGraphSparseInitializer) return Sparse(f.bytes);
      return true;
    });
  }

  // A model-local function: ORT inlines its body, Constant nodes and all.
  bool Function(std::string_view bytes) {
    return Fields(bytes, "FunctionProto", [&](const Field& f) {
      if (f.number == kFunctionNode) return Node(f.bytes, 1);
      if (f.number == kFunctionAttributeProto) return Attribute(f.bytes, 1);
      return true;
    });
  }

  bool TrainingInfo(std::string_view bytes) {
    return Fields(bytes, "TrainingInfoProto", [&](const Field& f) {
      return (f.number != kTrainingInitialization && f.number != kTrainingAlgorithm) || Graph(f.bytes, 1);
    });
  }
};

}  // namespace

StatusOr<std::vector<ExternalData>> ListExternalData(std::string_view model_bytes) {
  Reader r(model_bytes);
  Field f;
  Walk walk;
  bool has_graph = false;
  while (!r.done()) {
    if (!r.Next(&f)) return InvalidArgument("not an ONNX model (protobuf framing broken)");
    if (f.wire_type != 2) continue;
    bool ok = true;
    if (f.number == kModelGraph) {
      has_graph = true;
      ok = walk.Graph(f.bytes, 0);
    }
    if (f.number == kModelFunctions) ok = walk.Function(f.bytes);
    if (f.number == kModelTrainingInfo) ok = walk.TrainingInfo(f.bytes);
    if (!ok) return InvalidArgument("not a valid ONNX model: " + walk.error);
  }
  if (!has_graph) return InvalidArgument("not an ONNX model (no graph)");
  // One entry per location (a file shared by many tensors is listed once).
  std::set<std::string_view> seen;
  std::vector<ExternalData> out;
  for (auto& e : walk.external) {
    if (seen.insert(e.location).second) out.push_back(e);
  }
  return out;
}

Status CheckModelFile(const std::filesystem::path& model_path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_regular_file(model_path, ec)) {
    return NotFound("model file " + model_path.string() + " does not exist");
  }
  std::ifstream in(model_path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) return Internal("cannot read " + model_path.string());

  auto external = ListExternalData(data);
  if (!external.ok()) return external.status().WithContext(model_path.string());
  // Absolute first: a bare file name has an empty parent path.
  const fs::path dir = fs::absolute(model_path, ec).parent_path();
  for (const auto& [tensor, location] : *external) {
    const std::string what = "tensor '" + tensor + "' of " + model_path.string();
    if (location == kOrtMemoryAddressTag) {
      return InvalidArgument(what + " uses ORT's in-memory external data tag '" + location +
                             "' (an address, not a file)");
    }
    // Missing files are left to ORT to report; anything else must be a regular file whose real
    // path stays inside the model's folder.
    auto real = ResolveInside(dir, location, {.must_exist = false});
    if (real.status().code() == StatusCode::kFailedPrecondition) {
      return InvalidArgument(what + ": external data must be a regular file: " + real.status().message());
    }
    if (!real.ok()) {
      return InvalidArgument(what + " points to external data '" + location +
                             "' outside the model's folder (" + real.status().message() + ")");
    }
  }
  return Status::Ok();
}

}  // namespace continuum::runtime
