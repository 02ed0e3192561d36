#include "common/tensor.h"

#include <array>
#include <bit>
#include <cstring>

namespace continuum {
namespace {

struct TypeInfo {
  DataType dtype;
  std::string_view name;
  size_t size;
};

constexpr std::array<TypeInfo, 14> kTypes = {{
    {DataType::kBool, "BOOL", 1},
    {DataType::kUint8, "UINT8", 1},
    {DataType::kUint16, "UINT16", 2},
    {DataType::kUint32, "UINT32", 4},
    {DataType::kUint64, "UINT64", 8},
    {DataType::kInt8, "INT8", 1},
    {DataType::kInt16, "INT16", 2},
    {DataType::kInt32, "INT32", 4},
    {DataType::kInt64, "INT64", 8},
    {DataType::kFp16, "FP16", 2},
    {DataType::kBf16, "BF16", 2},
    {DataType::kFp32, "FP32", 4},
    {DataType::kFp64, "FP64", 8},
    {DataType::kBytes, "BYTES", 0},
}};

}  // namespace

std::string_view DataTypeName(DataType dtype) { return kTypes[static_cast<size_t>(dtype)].name; }

std::optional<DataType> ParseDataType(std::string_view name) {
  for (const auto& t : kTypes) {
    if (t.name == name) return t.dtype;
  }
  return std::nullopt;
}

size_t ElementSize(DataType dtype) { return kTypes[static_cast<size_t>(dtype)].size; }

StatusOr<int64_t> ElementCount(std::span<const int64_t> shape, int64_t max_elements) {
  int64_t n = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t d = shape[i];
    if (d < 0) {
      return InvalidArgument("dimension " + std::to_string(i) + " is negative (" + std::to_string(d) + ")");
    }
    if (d != 0 && n > max_elements / d) {
      return InvalidArgument("shape " + ShapeToString(shape) + " has more than " +
                             std::to_string(max_elements) + " elements");
    }
    n *= d;
  }
  if (n > max_elements) {
    return InvalidArgument("shape " + ShapeToString(shape) + " has more than " +
                           std::to_string(max_elements) + " elements");
  }
  return n;
}

std::string ShapeToString(std::span<const int64_t> shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(shape[i]);
  }
  s += "]";
  return s;
}

int64_t Tensor::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

Status Tensor::Validate() const {
  ASSIGN_OR_RETURN(int64_t n, ElementCount(shape));
  if (dtype == DataType::kBytes) {
    auto parts = SplitBytesElements(data, n);
    return parts.ok() ? Status::Ok() : parts.status();
  }
  const uint64_t want = static_cast<uint64_t>(n) * ElementSize(dtype);
  if (data.size() != want) {
    return InvalidArgument("tensor '" + name + "' has " + std::to_string(data.size()) +
                           " bytes of data but shape " + ShapeToString(shape) + " of " +
                           std::string(DataTypeName(dtype)) + " needs " + std::to_string(want));
  }
  return Status::Ok();
}

StatusOr<std::vector<std::string_view>> SplitBytesElements(std::string_view data, int64_t expected_count) {
  std::vector<std::string_view> out;
  if (expected_count > 0) out.reserve(static_cast<size_t>(std::min<int64_t>(expected_count, 1 << 20)));
  size_t pos = 0;
  while (pos < data.size()) {
    if (data.size() - pos < 4) {
      return InvalidArgument("BYTES element " + std::to_string(out.size()) +
                             " has a truncated 4-byte length prefix");
    }
    uint32_t len;
    std::memcpy(&len, data.data() + pos, 4);
    static_assert(std::endian::native == std::endian::little, "x86-64 and arm64 only");
    pos += 4;
    if (len > data.size() - pos) {
      return InvalidArgument("BYTES element " + std::to_string(out.size()) + " declares " +
                             std::to_string(len) + " bytes but only " + std::to_string(data.size() - pos) +
                             " remain");
    }
    out.emplace_back(data.data() + pos, len);
    pos += len;
    if (expected_count >= 0 && static_cast<int64_t>(out.size()) > expected_count) break;
  }
  if (expected_count >= 0 && static_cast<int64_t>(out.size()) != expected_count) {
    return InvalidArgument("BYTES data holds " +
                           std::string(out.size() > static_cast<size_t>(expected_count) ? "more than " : "") +
                           std::to_string(out.size()) + " elements but the shape needs " +
                           std::to_string(expected_count));
  }
  return out;
}

void AppendBytesElement(std::string& out, std::string_view element) {
  uint32_t len = static_cast<uint32_t>(element.size());
  static_assert(std::endian::native == std::endian::little, "x86-64 and arm64 only");
  char prefix[4];
  std::memcpy(prefix, &len, 4);
  out.append(prefix, 4);
  out.append(element);
}

uint16_t FloatToHalf(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t exp = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (exp == 0xff) {  // inf or nan
    return static_cast<uint16_t>(sign | 0x7c00u | (mant ? 0x200u | (mant >> 13) : 0));
  }
  int32_t e = static_cast<int32_t>(exp) - 127 + 15;
  if (e >= 0x1f) return static_cast<uint16_t>(sign | 0x7c00u);  // overflow to inf
  if (e <= 0) {                                                 // subnormal or zero
    if (e < -10) return static_cast<uint16_t>(sign);
    mant |= 0x800000u;
    uint32_t shift = static_cast<uint32_t>(14 - e);
    uint32_t half_mant = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (half_mant & 1u))) ++half_mant;
    return static_cast<uint16_t>(sign | half_mant);
  }
  uint32_t half = sign | (static_cast<uint32_t>(e) << 10) | (mant >> 13);
  uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (half & 1u))) ++half;  // may carry into exponent: ok
  return static_cast<uint16_t>(half);
}

float HalfToFloat(uint16_t h) {
  uint32_t sign = (static_cast<uint32_t>(h) & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t x;
  if (exp == 0) {
    if (mant == 0) {
      x = sign;
    } else {  // normalize the subnormal
      exp = 127 - 15 + 1;
      while (!(mant & 0x400u)) {
        mant <<= 1;
        --exp;
      }
      mant &= 0x3ffu;
      x = sign | (exp << 23) | (mant << 13);
    }
  } else if (exp == 0x1f) {
    x = sign | 0x7f800000u | (mant << 13);
  } else {
    x = sign | ((exp - 15 + 127) << 23) | (mant << 13);
  }
  return std::bit_cast<float>(x);
}

uint16_t FloatToBf16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((x >> 16) | 0x40u);  // nan
  uint32_t rounding = 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>((x + rounding) >> 16);
}

float Bf16ToFloat(uint16_t b) { return std::bit_cast<float>(static_cast<uint32_t>(b) << 16); }

Status CheckBytesFraming(std::string_view d, int64_t n) {
  size_t pos = 0;
  int64_t count = 0;
  while (pos < d.size()) {
    if (d.size() - pos < 4) {
      return InvalidArgument("BYTES element " + std::to_string(count) + " at byte " + std::to_string(pos) +
                             " has a truncated 4-byte length prefix");
    }
    uint32_t len;
    std::memcpy(&len, d.data() + pos, 4);
    pos += 4;
    if (len > d.size() - pos) {
      return InvalidArgument("BYTES element " + std::to_string(count) + " declares " + std::to_string(len) +
                             " bytes but only " + std::to_string(d.size() - pos) + " remain");
    }
    pos += len;
    ++count;
  }
  if (count != n) {
    return InvalidArgument("holds " + std::to_string(count) + " BYTES elements but the shape needs " +
                           std::to_string(n));
  }
  return Status::Ok();
}

}  // namespace continuum
