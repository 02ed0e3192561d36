// A bounds-checked reader of the protobuf wire format (varints, tags, length-delimited fields),
// enough to walk an ONNX ModelProto without a protobuf dependency (runtime/model_check.cc,
// tasks/text/onnx_graph.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace continuum::protobuf {

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

struct Field {
  uint32_t number = 0;
  uint32_t wire_type = 0;
  uint64_t varint = 0;     // kVarint
  std::string_view bytes;  // kLengthDelimited: a view into the reader's data
};

// Reads the fields of one message in order.
class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}
  bool done() const { return pos_ >= data_.size(); }

  // Reads the next field into `f`; false on malformed framing: a truncated varint, tag, fixed
  // value or length-delimited payload, a varint longer than 10 bytes, field number 0, or a group
  // (wire types 3 and 4, which ONNX does not use).
  bool Next(Field* f);

 private:
  bool Varint(uint64_t* v);
  bool Skip(size_t n);

  std::string_view data_;
  size_t pos_ = 0;
};

}  // namespace continuum::protobuf
