#include "common/protobuf_wire.h"

namespace continuum::protobuf {

bool WireReader::Next(Field* f) {
  uint64_t key;
  if (!Varint(&key)) return false;
  f->number = static_cast<uint32_t>(key >> 3);
  f->wire_type = static_cast<uint32_t>(key & 7);
  f->varint = 0;
  f->bytes = {};
  if (f->number == 0) return false;
  switch (f->wire_type) {
    case kVarint: return Varint(&f->varint);
    case kFixed64: return Skip(8);
    case kFixed32: return Skip(4);
    case kLengthDelimited: {
      uint64_t len;
      if (!Varint(&len) || len > data_.size() - pos_) return false;
      f->bytes = data_.substr(pos_, len);
      pos_ += len;
      return true;
    }
    default: return false;
  }
}

bool WireReader::Varint(uint64_t* v) {
  *v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) return false;
    auto b = static_cast<uint8_t>(data_[pos_++]);
    *v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;
}

bool WireReader::Skip(size_t n) {
  if (n > data_.size() - pos_) return false;
  pos_ += n;
  return true;
}

}  // namespace continuum::protobuf
