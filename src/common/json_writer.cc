#include "common/json_writer.h"

#include <charconv>
#include <cmath>
#include <type_traits>

namespace continuum {

void JsonWriter::Separator() {
  if (need_comma_) out_->push_back(',');
}

JsonWriter& JsonWriter::Open(char bracket) {
  Separator();
  out_->push_back(bracket);
  need_comma_ = false;
  return *this;
}
JsonWriter& JsonWriter::Close(char bracket) {
  out_->push_back(bracket);
  need_comma_ = true;
  return *this;
}
// The shortest text that reads back as `v`. Non-finite floating values have no JSON form: null.
template <typename T>
JsonWriter& JsonWriter::Number(T v) {
  if constexpr (std::is_floating_point_v<T>) {
    if (!std::isfinite(v)) return Value("null");
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return Value(std::string_view(buf, static_cast<size_t>(r.ptr - buf)));
}
JsonWriter& JsonWriter::Value(std::string_view json) {
  Separator();
  out_->append(json);
  need_comma_ = true;
  return *this;
}

JsonWriter& JsonWriter::BeginObject() { return Open('{'); }
JsonWriter& JsonWriter::EndObject() { return Close('}'); }
JsonWriter& JsonWriter::BeginArray() { return Open('['); }
JsonWriter& JsonWriter::EndArray() { return Close(']'); }
JsonWriter& JsonWriter::Key(std::string_view key) {
  Separator();
  AppendEscaped(out_, key);
  out_->push_back(':');
  need_comma_ = false;
  return *this;
}
JsonWriter& JsonWriter::String(std::string_view s) {
  Separator();
  AppendEscaped(out_, s);
  need_comma_ = true;
  return *this;
}
JsonWriter& JsonWriter::Int(int64_t v) { return Number(v); }
JsonWriter& JsonWriter::Uint(uint64_t v) { return Number(v); }
JsonWriter& JsonWriter::Double(double v) { return Number(v); }
JsonWriter& JsonWriter::Float(float v) { return Number(v); }
JsonWriter& JsonWriter::Bool(bool v) { return Value(v ? "true" : "false"); }
JsonWriter& JsonWriter::Null() { return Value("null"); }
JsonWriter& JsonWriter::Raw(std::string_view json) { return Value(json); }

void JsonWriter::AppendEscaped(std::string* out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->push_back('"');
  size_t run = 0;  // start of the current run of characters that need no escaping
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out->append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      case '\b': out->append("\\b"); break;
      case '\f': out->append("\\f"); break;
      default: {
        char u[6] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xf]};
        out->append(u, 6);
      }
    }
  }
  out->append(s.data() + run, s.size() - run);
  out->push_back('"');
}

}  // namespace continuum
