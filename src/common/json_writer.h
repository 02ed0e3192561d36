// A small streaming JSON writer: responses are written straight into a string without a DOM.
// Not thread-safe; one writer per response.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace continuum {

class JsonWriter {
 public:
  explicit JsonWriter(std::string* out) : out_(out) {}

  JsonWriter& BeginObject();
  JsonWriter& EndObject();
  JsonWriter& BeginArray();
  JsonWriter& EndArray();
  JsonWriter& Key(std::string_view key);
  JsonWriter& String(std::string_view s);
  JsonWriter& Int(int64_t v);
  JsonWriter& Uint(uint64_t v);
  // Non-finite values have no JSON form: NaN and infinities are written as null.
  JsonWriter& Double(double v);
  JsonWriter& Float(float v);  // shortest form that round-trips a float
  JsonWriter& Bool(bool v);
  JsonWriter& Null();
  // Inserts already-serialized JSON (e.g. a passed-through "parameters" object).
  JsonWriter& Raw(std::string_view json);

  std::string* out() { return out_; }

  static void AppendEscaped(std::string* out, std::string_view s);

 private:
  void Separator();
  JsonWriter& Open(char bracket);            // { or [
  JsonWriter& Close(char bracket);           // } or ]
  JsonWriter& Value(std::string_view json);  // one value, already written as JSON
  template <typename T>
  JsonWriter& Number(T v);  // defined and instantiated in json_writer.cc
  std::string* out_;
  bool need_comma_ = false;
};

}  // namespace continuum
