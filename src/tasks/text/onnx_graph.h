// Reads what the import step needs from an ONNX file without ONNX Runtime or protobuf: the main
// graph's input and output names with their element types. A minimal walk of the protobuf wire
// format (onnx.proto3 field numbers). The external-data files a model names, wherever they hide,
// are runtime::ListExternalData's.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "common/status.h"

namespace continuum::tasks::text {

struct OnnxValue {
  std::string name;
  int32_t elem_type = 0;      // TensorProto.DataType: 1 FLOAT, 6 INT32, 7 INT64, 10 FLOAT16, ...
  std::vector<int64_t> dims;  // -1 where dynamic (named or unnamed)
  bool has_shape = false;
};

struct OnnxGraphInfo {
  std::vector<OnnxValue> inputs;  // graph inputs that are not initializers
  std::vector<OnnxValue> outputs;
};

StatusOr<OnnxGraphInfo> ReadOnnxGraphInfo(std::string_view model_bytes);
StatusOr<OnnxGraphInfo> ReadOnnxGraphInfoFile(const std::filesystem::path& path);

}  // namespace continuum::tasks::text
