// Encoding half of the v2 codec: responses written straight into the body string (JSON data
// arrays without a DOM, binary outputs appended after the JSON header).
#include <simdjson.h>

#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>

#include "api/v2_codec.h"
#include "common/json_writer.h"
#include "common/tensor.h"

namespace continuum::v2 {
namespace {

// ------------------------------------------------------------------------------------------------
// Encoding helpers

// Appends `s` with every invalid UTF-8 sequence replaced by U+FFFD, so that the JSON we write is
// always valid UTF-8 even when a BYTES tensor holds arbitrary bytes. Only used on strings that
// failed validation: the shortest valid prefix at each position is exactly one character.
void AppendUtf8Replacing(std::string& out, std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    size_t len = 1;
    if (static_cast<unsigned char>(s[i]) >= 0x80) {
      while (len <= 4 && len <= s.size() - i && !simdjson::validate_utf8(s.data() + i, len)) ++len;
    }
    if (len <= 4 && len <= s.size() - i) {
      out.append(s.data() + i, len);
      i += len;
    } else {
      out.append("\xEF\xBF\xBD");
      ++i;
    }
  }
}

// `s` itself when it is valid UTF-8, else a repaired copy in `tmp`.
std::string_view Utf8Safe(std::string_view s, std::string& tmp) {
  if (s.empty() || simdjson::validate_utf8(s.data(), s.size())) return s;
  tmp.clear();
  AppendUtf8Replacing(tmp, s);
  return tmp;
}

constexpr size_t kMaxFloatChars = 16;   // "-1.17549435e-38" is 15
constexpr size_t kMaxDoubleChars = 25;  // "-2.2250738585072014e-308" is 24

inline char* WriteLiteral(char* p, std::string_view lit) {
  std::memcpy(p, lit.data(), lit.size());
  return p + lit.size();
}

// Same text as JsonWriter::Float/Double (shortest round trip, null when not finite), except
// that negative zero is written "-0.0" so that it reads back as a float and keeps its sign.
template <typename F>
inline char* WriteFloating(char* p, F v) {
  if (!std::isfinite(v)) return WriteLiteral(p, "null");
  if (v == 0 && std::signbit(v)) return WriteLiteral(p, "-0.0");
  constexpr size_t kMax = std::is_same_v<F, float> ? kMaxFloatChars : kMaxDoubleChars;
  auto r = std::to_chars(p, p + kMax, v);
  return r.ec == std::errc() ? r.ptr : WriteLiteral(p, "null");
}

// Writes the elements of a fixed-size tensor as comma-separated JSON values straight into `out`:
// grows it once by the worst case, writes, then trims. Trailing bytes that do not make a whole
// element are ignored (the encoder trusts, but never overreads, its input).
template <typename T, size_t kMaxChars, typename Fn>
void WriteElements(std::string& out, std::string_view data, Fn write_one) {
  const size_t n = data.size() / sizeof(T);
  if (n == 0) return;
  const size_t start = out.size();
  out.resize(start + n * (kMaxChars + 1));
  char* const begin = out.data();
  char* p = begin + start;
  const char* src = data.data();
  for (size_t i = 0; i < n; ++i) {
    if (i) *p++ = ',';
    T v;
    std::memcpy(&v, src + i * sizeof(T), sizeof(T));
    p = write_one(p, v);
  }
  out.resize(static_cast<size_t>(p - begin));
}

template <typename T, size_t kMaxChars>
void WriteIntegers(std::string& out, std::string_view data) {
  WriteElements<T, kMaxChars>(out, data, [](char* p, T v) { return std::to_chars(p, p + kMaxChars, v).ptr; });
}

void WriteJsonData(std::string& out, const Tensor& t) {
  const std::string_view d = t.data;
  switch (t.dtype) {
    case DataType::kBool:
      WriteElements<uint8_t, 5>(
          out, d, [](char* p, uint8_t v) { return v ? WriteLiteral(p, "true") : WriteLiteral(p, "false"); });
      return;
    case DataType::kUint8: WriteIntegers<uint8_t, 3>(out, d); return;
    case DataType::kUint16: WriteIntegers<uint16_t, 5>(out, d); return;
    case DataType::kUint32: WriteIntegers<uint32_t, 10>(out, d); return;
    case DataType::kUint64: WriteIntegers<uint64_t, 20>(out, d); return;
    case DataType::kInt8: WriteIntegers<int8_t, 4>(out, d); return;
    case DataType::kInt16: WriteIntegers<int16_t, 6>(out, d); return;
    case DataType::kInt32: WriteIntegers<int32_t, 11>(out, d); return;
    case DataType::kInt64: WriteIntegers<int64_t, 20>(out, d); return;
    case DataType::kFp16:
      WriteElements<uint16_t, kMaxFloatChars>(
          out, d, [](char* p, uint16_t v) { return WriteFloating(p, HalfToFloat(v)); });
      return;
    case DataType::kBf16:
      WriteElements<uint16_t, kMaxFloatChars>(
          out, d, [](char* p, uint16_t v) { return WriteFloating(p, Bf16ToFloat(v)); });
      return;
    case DataType::kFp32:
      WriteElements<float, kMaxFloatChars>(out, d, [](char* p, float v) { return WriteFloating(p, v); });
      return;
    case DataType::kFp64:
      WriteElements<double, kMaxDoubleChars>(out, d, [](char* p, double v) { return WriteFloating(p, v); });
      return;
    case DataType::kBytes: {
      std::string tmp;
      size_t pos = 0;
      bool first = true;
      while (d.size() - pos >= 4) {  // stops at broken framing instead of overreading
        uint32_t len;
        std::memcpy(&len, d.data() + pos, 4);
        pos += 4;
        if (len > d.size() - pos) break;
        if (!first) out.push_back(',');
        first = false;
        JsonWriter::AppendEscaped(&out, Utf8Safe(d.substr(pos, len), tmp));
        pos += len;
      }
      return;
    }
  }
}

// Upper bound (BYTES: a good guess) of the JSON text of a tensor's data.
size_t JsonDataSize(const Tensor& t) {
  // Most characters an element takes, by DataType.
  static constexpr size_t kMaxChars[] = {
      5, 3, 5, 10, 20, 4, 6, 11, 20, kMaxFloatChars, kMaxFloatChars, kMaxFloatChars, kMaxDoubleChars};
  if (t.dtype == DataType::kBytes) return t.data.size() + t.data.size() / 8 + 16;
  return t.data.size() / ElementSize(t.dtype) * (kMaxChars[static_cast<size_t>(t.dtype)] + 1);
}

}  // namespace

EncodedResponse EncodeInferResponse(const InferResponse& response) {
  EncodedResponse result;
  std::string& out = result.body;
  size_t reserve = 96 + response.id.size() + response.model_name.size() + response.parameters_json.size();
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    const Tensor& t = response.outputs[i];
    const bool binary = i < response.binary.size() && response.binary[i];
    reserve += 96 + t.name.size() + t.shape.size() * 21 + (binary ? t.data.size() : JsonDataSize(t));
  }
  out.reserve(reserve);

  std::string tmp;
  JsonWriter w(&out);
  w.BeginObject();
  if (!response.id.empty()) w.Key("id").String(Utf8Safe(response.id, tmp));
  w.Key("model_name").String(Utf8Safe(response.model_name, tmp));
  w.Key("model_version").String(std::to_string(response.model_version));
  if (!response.parameters_json.empty()) w.Key("parameters").Raw(response.parameters_json);
  w.Key("outputs").BeginArray();
  bool any_binary = false;
  for (size_t i = 0; i < response.outputs.size(); ++i) {
    const Tensor& t = response.outputs[i];
    const bool binary = i < response.binary.size() && response.binary[i];
    w.BeginObject();
    w.Key("name").String(Utf8Safe(t.name, tmp));
    w.Key("datatype").String(DataTypeName(t.dtype));
    w.Key("shape").BeginArray();
    for (int64_t d : t.shape) w.Int(d);
    w.EndArray();
    if (binary) {
      any_binary = true;
      w.Key("parameters").BeginObject().Key("binary_data_size").Uint(t.data.size()).EndObject();
    } else {
      w.Key("data").BeginArray();
      WriteJsonData(out, t);
      w.EndArray();
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();

  if (any_binary) {
    result.json_length = out.size();
    for (size_t i = 0; i < response.outputs.size(); ++i) {
      if (i < response.binary.size() && response.binary[i]) out.append(response.outputs[i].data);
    }
  }
  return result;
}

std::string ErrorBody(std::string_view message) {
  std::string out;
  out.reserve(message.size() + 16);
  std::string tmp;
  JsonWriter w(&out);
  w.BeginObject().Key("error").String(Utf8Safe(message, tmp)).EndObject();
  return out;
}

}  // namespace continuum::v2
