// Native tensors, the currency between the API layer, the scheduler and the runtime.
// JSON never travels past the API layer: it is decoded straight into these types.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace continuum {

// The KServe v2 datatypes. The names are the protocol's own ("FP32", "BYTES", ...).
enum class DataType : uint8_t {
  kBool,
  kUint8,
  kUint16,
  kUint32,
  kUint64,
  kInt8,
  kInt16,
  kInt32,
  kInt64,
  kFp16,
  kBf16,
  kFp32,
  kFp64,
  kBytes,
};

std::string_view DataTypeName(DataType dtype);
std::optional<DataType> ParseDataType(std::string_view name);
// Bytes per element; 0 for BYTES (variable length).
size_t ElementSize(DataType dtype);

using Shape = std::vector<int64_t>;

// Number of elements of a concrete shape. Fails on negative dimensions or on a product that
// overflows or exceeds `max_elements`.
StatusOr<int64_t> ElementCount(std::span<const int64_t> shape, int64_t max_elements = INT64_MAX);
std::string ShapeToString(std::span<const int64_t> shape);

// A tensor with owned data.
// Fixed-size types hold their elements as little-endian bytes, densely packed in row-major order
// (BOOL is one byte per element, FP16/BF16 two).
// BYTES tensors hold the v2 binary layout: for each element a 4-byte little-endian length and then
// that many bytes. This keeps every tensor one contiguous buffer, so batching is concatenation.
struct Tensor {
  std::string name;
  DataType dtype = DataType::kFp32;
  Shape shape;
  std::string data;

  // Checks that data agrees with dtype and shape (element count and, for BYTES, the framing).
  Status Validate() const;
  // Element count of `shape` (shape must already be valid).
  int64_t NumElements() const;
};

// Splits a BYTES buffer into views of its elements; fails on broken framing or a count other
// than `expected_count` (pass -1 to accept any count).
StatusOr<std::vector<std::string_view>> SplitBytesElements(std::string_view data, int64_t expected_count);

// Checks the BYTES framing of `data` (a 4-byte little-endian length, then the bytes, per element)
// holds exactly `expected_count` elements, without allocating. Errors name the element and byte.
Status CheckBytesFraming(std::string_view data, int64_t expected_count);
// Appends one BYTES element (length prefix + bytes) to `out`.
void AppendBytesElement(std::string& out, std::string_view element);

// IEEE half and bfloat16 conversions (round to nearest even).
uint16_t FloatToHalf(float f);
float HalfToFloat(uint16_t h);
uint16_t FloatToBf16(float f);
float Bf16ToFloat(uint16_t b);

}  // namespace continuum
