#include "tasks/text/onnx_graph.h"

#include <algorithm>
#include <fstream>
#include <set>

#include "common/protobuf_wire.h"

namespace continuum::tasks::text {
namespace {

// Field numbers (onnx.proto3).
constexpr uint32_t kModelGraph = 7;
constexpr uint32_t kGraphInitializer = 5, kGraphInput = 11, kGraphOutput = 12;
constexpr uint32_t kValueName = 1, kValueType = 2;
constexpr uint32_t kTypeTensor = 1;
constexpr uint32_t kTensorTypeElem = 1, kTensorTypeShape = 2;
constexpr uint32_t kShapeDim = 1, kDimValue = 1;
constexpr uint32_t kTensorName = 8;

using protobuf::Field;
using Reader = protobuf::WireReader;

Status Malformed(std::string_view what) {
  return InvalidArgument("not a valid ONNX model: malformed " + std::string(what));
}

StatusOr<OnnxValue> ParseValueInfo(std::string_view bytes) {
  OnnxValue v;
  Reader r(bytes);
  Field f;
  while (!r.done()) {
    if (!r.Next(&f)) return Malformed("ValueInfoProto");
    if (f.wire_type != 2) continue;
    if (f.number == kValueName) v.name = std::string(f.bytes);
    if (f.number != kValueType) continue;
    Reader t(f.bytes);
    Field tf;
    while (!t.done()) {
      if (!t.Next(&tf)) return Malformed("TypeProto");
      if (tf.number != kTypeTensor || tf.wire_type != 2) continue;
      Reader tt(tf.bytes);
      Field ttf;
      while (!tt.done()) {
        if (!tt.Next(&ttf)) return Malformed("TypeProto.Tensor");
        if (ttf.number == kTensorTypeElem && ttf.wire_type == 0)
          v.elem_type = static_cast<int32_t>(ttf.varint);
        if (ttf.number == kTensorTypeShape && ttf.wire_type == 2) {
          Reader sr(ttf.bytes);
          Field sf;
          v.has_shape = true;
          while (!sr.done()) {
            if (!sr.Next(&sf)) return Malformed("TensorShapeProto");
            if (sf.number != kShapeDim || sf.wire_type != 2) continue;
            int64_t dim = -1;
            Reader dr(sf.bytes);
            Field df;
            while (!dr.done()) {
              if (!dr.Next(&df)) return Malformed("TensorShapeProto.Dimension");
              if (df.number == kDimValue && df.wire_type == 0) dim = static_cast<int64_t>(df.varint);
            }
            v.dims.push_back(dim);
          }
        }
      }
    }
  }
  return v;
}

// The name of an initializer.
Status ParseInitializer(std::string_view bytes, std::string* name) {
  Reader r(bytes);
  Field f;
  while (!r.done()) {
    if (!r.Next(&f)) return Malformed("TensorProto");
    if (f.wire_type == 2 && f.number == kTensorName) *name = std::string(f.bytes);
  }
  return Status::Ok();
}

}  // namespace

StatusOr<OnnxGraphInfo> ReadOnnxGraphInfo(std::string_view model_bytes) {
  Reader r(model_bytes);
  Field f;
  std::string_view graph;
  bool has_graph = false;
  while (!r.done()) {
    if (!r.Next(&f)) return InvalidArgument("not an ONNX model (protobuf framing broken)");
    if (f.number == kModelGraph && f.wire_type == 2) {
      graph = f.bytes;
      has_graph = true;
    }
  }
  if (!has_graph) return InvalidArgument("not an ONNX model (no graph)");
  OnnxGraphInfo info;
  std::set<std::string> initializers;
  std::vector<OnnxValue> inputs;
  Reader g(graph);
  while (!g.done()) {
    if (!g.Next(&f)) return Malformed("GraphProto");
    if (f.wire_type != 2) continue;
    if (f.number == kGraphInput || f.number == kGraphOutput) {
      ASSIGN_OR_RETURN(OnnxValue v, ParseValueInfo(f.bytes));
      (f.number == kGraphInput ? inputs : info.outputs).push_back(std::move(v));
    } else if (f.number == kGraphInitializer) {
      std::string name;
      RETURN_IF_ERROR(ParseInitializer(f.bytes, &name));
      initializers.insert(name);
    }
  }
  for (auto& v : inputs) {
    if (!initializers.contains(v.name)) info.inputs.push_back(std::move(v));  // IR < 4 lists them as inputs
  }
  return info;
}

StatusOr<OnnxGraphInfo> ReadOnnxGraphInfoFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound("cannot read " + path.string());
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto info = ReadOnnxGraphInfo(data);
  if (!info.ok()) return info.status().WithContext(path.string());
  return info;
}

}  // namespace continuum::tasks::text
