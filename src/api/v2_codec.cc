#include "api/v2_codec.h"

#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/json_writer.h"
#include "common/tensor.h"

namespace continuum::v2 {
namespace {

namespace dom = simdjson::dom;
using dom::element;
using dom::element_type;

static_assert(std::endian::native == std::endian::little, "x86-64 and arm64 only");

// The array/object of an element already known to be one. Returned by value: value_unsafe() on
// the temporary simdjson_result yields a reference into it, which must not outlive the statement
// (a range-for over it directly would dangle).
inline dom::array ArrayOf(element e) { return e.get_array().value_unsafe(); }
inline dom::object ObjectOf(element e) { return e.get_object().value_unsafe(); }

// Recursion over nested "data" arrays is bounded by the depth limit; this caps it whatever the
// configuration says, so a misconfigured limit cannot overflow the stack.
constexpr size_t kMaxSupportedDepth = 1024;
// Bodies up to this size are parsed with a per-thread parser that keeps its buffers; larger ones
// get a parser of their own so that a single huge request does not pin memory in every thread.
constexpr size_t kReusedParserMaxBytes = 256 << 10;
// Integral JSON numbers written with a fraction or an exponent ("2.0", "1e3") are accepted for
// integer types as long as they are exact.
constexpr double kMaxExactDouble = 9007199254740992.0;  // 2^53

// ------------------------------------------------------------------------------------------------
// Message helpers

std::string DoubleText(double d) {
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof buf, d);
  return std::string(buf, r.ptr);
}

// What a JSON value is, for "got ..." in messages: scalars by value, containers by kind.
std::string Describe(element e) {
  switch (e.type()) {
    case element_type::INT64: return std::to_string(e.get_int64().value_unsafe());
    case element_type::UINT64: return std::to_string(e.get_uint64().value_unsafe());
    case element_type::DOUBLE: return DoubleText(e.get_double().value_unsafe());
    case element_type::BOOL: return e.get_bool().value_unsafe() ? "true" : "false";
    case element_type::NULL_VALUE: return "null";
    case element_type::STRING: return "a string";
    case element_type::ARRAY: return "an array";
    case element_type::OBJECT: return "an object";
  }
  return "a value";
}

std::string Input(size_t i) { return "inputs[" + std::to_string(i) + "]"; }
std::string Output(size_t i) { return "outputs[" + std::to_string(i) + "]"; }

Status Expected(const std::string& where, std::string_view what, element got) {
  return InvalidArgument(where + ": expected " + std::string(what) + ", got " + Describe(got));
}

// The first member `key` of `obj`, if any (duplicate keys: the first wins).
std::optional<element> Field(element obj, std::string_view key) {
  element v;
  if (ObjectOf(obj).at_key(key).get(v)) return std::nullopt;
  return v;
}

// Where a member lives ("inputs[2].parameters"); made into a string only for an error message.
struct Loc {
  const char* array = nullptr;  // "inputs", "outputs", or null for the request object itself
  size_t idx = 0;
  std::string operator()(std::string_view field = {}) const {
    std::string s = array ? std::string(array) + "[" + std::to_string(idx) + "]" : "";
    if (!s.empty() && !field.empty()) s += ".";
    return s.append(field);
  }
};

// The tensor's parameters, refused by REST and gRPC alike (see the header).
Status RefuseUnimplementedParameters(element params, Loc loc) {
  return v2::RefuseUnimplementedParameters(
      [params](std::string_view key) { return Field(params, key).has_value(); }, loc());
}

// Optional typed members; `path` names the member in messages. StringField's result is false
// when the member is absent.
StatusOr<bool> StringField(element obj, std::string_view key, Loc loc, std::string_view path,
                           std::string& out) {
  std::optional<element> v = Field(obj, key);
  if (!v) return false;
  if (v->type() != element_type::STRING) return Expected(loc(path), "a string", *v);
  out = std::string(v->get_string().value_unsafe());
  return true;
}

Status BoolField(element obj, std::string_view key, Loc loc, std::string_view path, bool& out) {
  std::optional<element> v = Field(obj, key);
  if (!v) return Status::Ok();
  if (v->type() != element_type::BOOL) return Expected(loc(path), "true or false", *v);
  out = v->get_bool().value_unsafe();
  return Status::Ok();
}

// An optional member that must be an object when present.
StatusOr<std::optional<element>> ObjectField(element obj, std::string_view key, Loc loc) {
  std::optional<element> v = Field(obj, key);
  if (v && v->type() != element_type::OBJECT) return Expected(loc(key), "an object", *v);
  return v;
}

// ------------------------------------------------------------------------------------------------
// JSON "data" -> tensor bytes

// State while one input's "data" is flattened into its tensor.
struct Sink {
  char* out = nullptr;           // fixed-size types: where the next element goes
  std::string* bytes = nullptr;  // BYTES: elements are appended here
  int64_t count = 0;             // elements stored so far
  int64_t expected = 0;          // elements the shape needs
  std::string error;             // why the element at `path` was rejected
  std::vector<size_t> path;      // indices of the rejected element, innermost first
};

// The C++ type of an integer DataType (kUint8 .. kInt64 are 1 .. 8).
template <DataType D>
using NativeOf =
    std::tuple_element_t<static_cast<size_t>(D) - 1, std::tuple<uint8_t, uint16_t, uint32_t, uint64_t, int8_t,
                                                                int16_t, int32_t, int64_t>>;

template <DataType D>
bool Reject(Sink& s, std::string_view what, element e) {
  s.error = "expected " + std::string(what) + " for " + std::string(DataTypeName(D)) + ", got " + Describe(e);
  return false;
}

template <DataType D>
bool OutOfRange(Sink& s, element e) {
  s.error = Describe(e) + " is out of range for " + std::string(DataTypeName(D));
  return false;
}

template <DataType D>
bool PutInteger(element e, Sink& s) {
  using T = NativeOf<D>;
  T v;
  switch (e.type()) {
    case element_type::INT64: {
      int64_t x = e.get_int64().value_unsafe();
      if (!std::in_range<T>(x)) return OutOfRange<D>(s, e);
      v = static_cast<T>(x);
      break;
    }
    case element_type::UINT64: {  // only values above INT64_MAX are typed UINT64
      uint64_t x = e.get_uint64().value_unsafe();
      if (!std::in_range<T>(x)) return OutOfRange<D>(s, e);
      v = static_cast<T>(x);
      break;
    }
    case element_type::DOUBLE: {
      double d = e.get_double().value_unsafe();
      if (std::trunc(d) != d || std::fabs(d) > kMaxExactDouble) {
        return Reject<D>(s, "an integer", e);
      }
      int64_t x = static_cast<int64_t>(d);
      if (!std::in_range<T>(x)) return OutOfRange<D>(s, e);
      v = static_cast<T>(x);
      break;
    }
    default: return Reject<D>(s, "an integer", e);
  }
  std::memcpy(s.out, &v, sizeof v);
  s.out += sizeof v;
  return true;
}

template <DataType D>
bool PutFloating(element e, Sink& s) {
  double d;
  switch (e.type()) {
    case element_type::DOUBLE: d = e.get_double().value_unsafe(); break;
    case element_type::INT64: d = static_cast<double>(e.get_int64().value_unsafe()); break;
    case element_type::UINT64: d = static_cast<double>(e.get_uint64().value_unsafe()); break;
    default: return Reject<D>(s, "a number", e);
  }
  if constexpr (D == DataType::kFp64) {
    std::memcpy(s.out, &d, 8);
    s.out += 8;
  } else {
    // JSON has no infinities, so an infinite result means the value overflowed the type.
    float f = static_cast<float>(d);
    if constexpr (D == DataType::kFp32) {
      if (std::isinf(f)) return OutOfRange<D>(s, e);
      std::memcpy(s.out, &f, 4);
      s.out += 4;
    } else {
      uint16_t h;
      if constexpr (D == DataType::kFp16) {
        h = FloatToHalf(f);
        if ((h & 0x7c00u) == 0x7c00u) return OutOfRange<D>(s, e);
      } else {
        h = FloatToBf16(f);
        if ((h & 0x7f80u) == 0x7f80u) return OutOfRange<D>(s, e);
      }
      std::memcpy(s.out, &h, 2);
      s.out += 2;
    }
  }
  return true;
}

template <DataType D>
bool PutOne(element e, Sink& s) {
  if constexpr (D == DataType::kBool) {
    const element_type type = e.type();
    int64_t x = type == element_type::BOOL    ? e.get_bool().value_unsafe()
                : type == element_type::INT64 ? e.get_int64().value_unsafe()
                                              : -1;
    if (x != 0 && x != 1) return Reject<D>(s, "true, false, 0 or 1", e);
    *s.out++ = static_cast<char>(x);
    return true;
  } else if constexpr (D == DataType::kBytes) {
    if (e.type() != element_type::STRING) return Reject<D>(s, "a string", e);
    std::string_view v = e.get_string().value_unsafe();
    if (v.size() > std::numeric_limits<uint32_t>::max()) {
      s.error = "string of " + std::to_string(v.size()) + " bytes is too long for BYTES";
      return false;
    }
    AppendBytesElement(*s.bytes, v);
    return true;
  } else if constexpr (D == DataType::kFp16 || D == DataType::kBf16 || D == DataType::kFp32 ||
                       D == DataType::kFp64) {
    return PutFloating<D>(e, s);
  } else {
    return PutInteger<D>(e, s);
  }
}

template <DataType D>
inline bool Leaf(element e, Sink& s) {
  if (s.count == s.expected) {  // the elements were counted before: a guard for the buffer
    s.error = "more elements than the shape needs";
    return false;
  }
  if (!PutOne<D>(e, s)) return false;
  ++s.count;
  return true;
}

// Depth is bounded by the parser's depth limit.
template <DataType D>
bool FlattenArray(dom::array arr, Sink& s) {
  size_t i = 0;
  for (element child : arr) {
    bool ok = child.type() == element_type::ARRAY ? FlattenArray<D>(ArrayOf(child), s) : Leaf<D>(child, s);
    if (!ok) {
      s.path.push_back(i);
      return false;
    }
    ++i;
  }
  return true;
}

template <DataType D>
bool Flatten(element data, Sink& s) {
  if (data.type() == element_type::ARRAY) return FlattenArray<D>(ArrayOf(data), s);
  return Leaf<D>(data, s);  // a bare scalar: one element
}

// Flatten<D> for the runtime `dtype`.
constexpr size_t kNumDataTypes = static_cast<size_t>(DataType::kBytes) + 1;
template <size_t... I>
bool FlattenAs(DataType dtype, element data, Sink& s, std::index_sequence<I...>) {
  bool ok = false;
  (void)((static_cast<size_t>(dtype) == I && (ok = Flatten<static_cast<DataType>(I)>(data, s), true)) || ...);
  return ok;
}

// What a "data" value holds: its scalars, and for BYTES the bytes of its strings. Counted over
// the parsed document before the tensor buffer is allocated, so the allocation follows what the
// body carries, never what its shape declares. Depth is bounded by the parser's depth limit.
struct DataCount {
  uint64_t leaves = 0;
  uint64_t string_bytes = 0;
};

void CountData(element e, DataCount& c) {
  if (e.type() == element_type::ARRAY) {
    for (element child : ArrayOf(e)) CountData(child, c);
    return;
  }
  ++c.leaves;
  if (e.type() == element_type::STRING) c.string_bytes += e.get_string().value_unsafe().size();
}

Status CountMismatch(size_t idx, uint64_t leaves, const Tensor& t, int64_t n) {
  return InvalidArgument(Input(idx) + ".data: holds " + std::to_string(leaves) + " elements but shape " +
                         ShapeToString(t.shape) + " needs " + std::to_string(n));
}

Status ParseJsonData(size_t idx, element data, int64_t n, Tensor& t) {
  DataCount c;
  CountData(data, c);
  if (c.leaves != static_cast<uint64_t>(n)) return CountMismatch(idx, c.leaves, t, n);
  Sink s;
  s.expected = n;
  if (t.dtype == DataType::kBytes) {
    // Each element is a 4-byte length and its bytes (non-strings are refused below).
    t.data.reserve(static_cast<size_t>(c.leaves * 4 + c.string_bytes));
    s.bytes = &t.data;
  } else {
    t.data.resize(static_cast<size_t>(n) * ElementSize(t.dtype));
    s.out = t.data.data();
  }
  if (!FlattenAs(t.dtype, data, s, std::make_index_sequence<kNumDataTypes>())) {
    std::string where = Input(idx) + ".data";
    for (auto it = s.path.rbegin(); it != s.path.rend(); ++it) {
      where += "[" + std::to_string(*it) + "]";
    }
    return InvalidArgument(where + ": " + s.error);
  }
  return Status::Ok();
}

// ------------------------------------------------------------------------------------------------
// Binary tensor data

struct BinarySection {
  bool present = false;  // json_length was given
  std::string_view bytes;
  size_t pos = 0;
};

Status TakeBinaryData(size_t idx, uint64_t size, int64_t n, BinarySection& bin, Tensor& t) {
  auto where = [idx] { return Input(idx) + ".parameters.binary_data_size"; };
  if (!bin.present) {
    return InvalidArgument(where() + ": binary data needs the Inference-Header-Content-Length header");
  }
  if (t.dtype != DataType::kBytes) {
    uint64_t want;
    if (__builtin_mul_overflow(static_cast<uint64_t>(n), ElementSize(t.dtype), &want) || size != want) {
      return InvalidArgument(where() + ": " + std::to_string(size) + " bytes but shape " +
                             ShapeToString(t.shape) + " of " + std::string(DataTypeName(t.dtype)) +
                             " needs " + std::to_string(want));
    }
  }
  const size_t remaining = bin.bytes.size() - bin.pos;
  if (size > remaining) {
    return InvalidArgument(where() + ": binary section too short: needs " + std::to_string(size) +
                           " bytes at offset " + std::to_string(bin.pos) + " but only " +
                           std::to_string(remaining) + " remain (short by " +
                           std::to_string(size - remaining) + " bytes)");
  }
  std::string_view slice = bin.bytes.substr(bin.pos, static_cast<size_t>(size));
  bin.pos += static_cast<size_t>(size);
  if (t.dtype == DataType::kBytes) {
    RETURN_IF_ERROR(CheckBytesFraming(slice, n).WithContext(Input(idx) + ": binary data"));
  } else if (t.dtype == DataType::kBool) {
    // A bool byte other than 0 or 1 is undefined behavior for C++ consumers: reject it here.
    for (size_t k = 0; k < slice.size(); ++k) {
      if (static_cast<unsigned char>(slice[k]) > 1) {
        return InvalidArgument(Input(idx) + ": binary BOOL element " + std::to_string(k) + " is " +
                               std::to_string(static_cast<unsigned char>(slice[k])) + " (must be 0 or 1)");
      }
    }
  }
  t.data.assign(slice);
  return Status::Ok();
}

// ------------------------------------------------------------------------------------------------
// Request structure

Status ParseShape(size_t idx, element shape, Tensor& t) {
  auto where = [idx] { return Input(idx) + ".shape"; };
  if (shape.type() != element_type::ARRAY) {
    return Expected(where(), "an array of non-negative integers", shape);
  }
  dom::array dims = ArrayOf(shape);
  t.shape.reserve(dims.size());
  size_t k = 0;
  for (element d : dims) {
    if (d.type() == element_type::INT64 && d.get_int64().value_unsafe() >= 0) {
      t.shape.push_back(d.get_int64().value_unsafe());
    } else if (d.type() == element_type::UINT64) {
      return InvalidArgument(where() + "[" + std::to_string(k) + "]: dimension " + Describe(d) +
                             " is too large");
    } else {
      return Expected(where() + "[" + std::to_string(k) + "]", "a non-negative integer", d);
    }
    ++k;
  }
  return Status::Ok();
}

Status ParseInput(size_t idx, element in, const CodecLimits& limits, BinarySection& bin, Tensor& t) {
  const Loc loc{"inputs", idx};
  if (in.type() != element_type::OBJECT) return Expected(loc(), "an object", in);
  std::optional<element> shape = Field(in, "shape"), data = Field(in, "data");
  std::string dtname;
  ASSIGN_OR_RETURN(bool has_name, StringField(in, "name", loc, "name", t.name));
  ASSIGN_OR_RETURN(bool has_datatype, StringField(in, "datatype", loc, "datatype", dtname));
  for (auto [present, field] : {std::pair{has_name, "name"}, std::pair{shape.has_value(), "shape"},
                                std::pair{has_datatype, "datatype"}}) {
    if (!present) return InvalidArgument(loc() + ": missing required field '" + field + "'");
  }
  std::optional<DataType> dtype = ParseDataType(dtname);
  if (!dtype) {
    return InvalidArgument(loc("datatype") + ": unknown datatype " + Quoted(dtname) +
                           " (expected BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, "
                           "FP64 or BYTES)");
  }
  t.dtype = *dtype;

  RETURN_IF_ERROR(ParseShape(idx, *shape, t));
  StatusOr<int64_t> count = ElementCount(t.shape, limits.max_tensor_elements);
  if (!count.ok()) return count.status().WithContext(loc("shape"));
  const int64_t n = *count;

  ASSIGN_OR_RETURN(std::optional<element> params, ObjectField(in, "parameters", loc));
  if (params) RETURN_IF_ERROR(RefuseUnimplementedParameters(*params, loc));
  std::optional<element> size = params ? Field(*params, "binary_data_size") : std::nullopt;
  if (!size) {
    if (!data) {
      return InvalidArgument(loc() + ": missing 'data' (or 'parameters.binary_data_size' for binary data)");
    }
    return ParseJsonData(idx, *data, n, t);
  }
  if (data) {
    return InvalidArgument(loc() + ": has both 'data' and 'parameters.binary_data_size'; use one");
  }
  if (size->type() == element_type::INT64 && size->get_int64().value_unsafe() >= 0) {
    return TakeBinaryData(idx, static_cast<uint64_t>(size->get_int64().value_unsafe()), n, bin, t);
  }
  if (size->type() == element_type::UINT64) {
    return TakeBinaryData(idx, size->get_uint64().value_unsafe(), n, bin, t);
  }
  return Expected(loc("parameters.binary_data_size"), "a non-negative integer", *size);
}

// The array `field` holds, refused when it is not one or has more than `limit` elements (`what`
// names them in the error).
StatusOr<dom::array> BoundedArray(element e, const std::string& field, std::string_view what, size_t limit) {
  if (e.type() != element_type::ARRAY) return Expected(field, "an array", e);
  dom::array arr = ArrayOf(e);
  if (arr.size() > limit) {
    return InvalidArgument(field + ": " + std::to_string(arr.size()) + " " + std::string(what) +
                           " exceed the limit of " + std::to_string(limit));
  }
  return arr;
}

Status ParseOutputs(element outputs, const CodecLimits& limits, InferRequest& req) {
  ASSIGN_OR_RETURN(dom::array arr, BoundedArray(outputs, "outputs", "requested outputs", limits.max_outputs));
  req.outputs.reserve(arr.size());
  size_t idx = 0;
  for (element out : arr) {
    const Loc loc{"outputs", idx++};
    if (out.type() != element_type::OBJECT) return Expected(loc(), "an object", out);
    RequestedOutput ro;
    ro.binary = req.binary_data_output;
    ASSIGN_OR_RETURN(bool has_name, StringField(out, "name", loc, "name", ro.name));
    if (!has_name) return InvalidArgument(loc() + ": missing required field 'name'");
    ASSIGN_OR_RETURN(std::optional<element> params, ObjectField(out, "parameters", loc));
    if (params) {
      RETURN_IF_ERROR(RefuseUnimplementedParameters(*params, loc));
      RETURN_IF_ERROR(BoolField(*params, "binary_data", loc, "parameters.binary_data", ro.binary));
    }
    for (size_t j = 0; j < req.outputs.size(); ++j) {
      if (req.outputs[j].name == ro.name) {
        return InvalidArgument(loc("name") + ": " + Quoted(ro.name) + " is already requested by " +
                               Output(j));
      }
    }
    req.outputs.push_back(std::move(ro));
  }
  return Status::Ok();
}

simdjson::dom::parser* ParserFor(size_t json_size, size_t max_depth, std::unique_ptr<dom::parser>& owned) {
  if (json_size <= kReusedParserMaxBytes) {
    thread_local dom::parser reused;
    if (reused.max_depth() != max_depth || reused.capacity() == 0) {
      if (reused.allocate(std::max(reused.capacity(), kReusedParserMaxBytes / 16), max_depth)) {
        return nullptr;
      }
    }
    return &reused;
  }
  owned = std::make_unique<dom::parser>();
  if (owned->allocate(json_size, max_depth)) return nullptr;
  return owned.get();
}

}  // namespace

// ------------------------------------------------------------------------------------------------

Status RefuseUnimplementedParameters(const std::function<bool(std::string_view)>& present,
                                     const std::string& where) {
  for (std::string_view key : {"shared_memory_region", "shared_memory_byte_size", "shared_memory_offset"}) {
    if (present(key)) {
      return InvalidArgument(where + ".parameters." + std::string(key) +
                             ": the shared memory extension is not supported (it is not among the server's "
                             "extensions); send the tensor in the body");
    }
  }
  if (present("classification")) {
    return InvalidArgument(
        where +
        ".parameters.classification: the classification extension is not supported; request "
        "the tensor itself");
  }
  return Status::Ok();
}

StatusOr<InferRequest> ParseInferRequest(std::string_view body, std::optional<size_t> json_length,
                                         const CodecLimits& limits) {
  std::string_view json = body;
  BinarySection bin;
  if (json_length) {
    if (*json_length > body.size()) {
      return InvalidArgument("Inference-Header-Content-Length " + std::to_string(*json_length) +
                             " exceeds the request body size " + std::to_string(body.size()));
    }
    json = body.substr(0, *json_length);
    bin.present = true;
    bin.bytes = body.substr(*json_length);
  }
  if (json.empty()) return InvalidArgument("request body: empty JSON");

  // simdjson rejects a document when a non-empty container sits at depth max_depth, so its
  // limit is one more than ours.
  const size_t depth = std::min(limits.max_json_depth, kMaxSupportedDepth) + 1;
  std::unique_ptr<dom::parser> owned;
  dom::parser* parser = ParserFor(json.size(), depth, owned);
  if (!parser) return InvalidArgument("request body: cannot allocate a JSON parser");
  element root;
  // Copies the text into the parser's padded buffer (the body has no padding of its own).
  simdjson::error_code err = parser->parse(json.data(), json.size(), true).get(root);
  if (err == simdjson::DEPTH_ERROR) {
    return InvalidArgument("request body: JSON nesting is deeper than the limit of " +
                           std::to_string(depth - 1) + " levels");
  }
  if (err) {
    return InvalidArgument("request body: invalid JSON: " + std::string(simdjson::error_message(err)));
  }
  if (root.type() != element_type::OBJECT) return Expected("request body", "a JSON object", root);

  InferRequest req;
  RETURN_IF_ERROR(StringField(root, "id", Loc{}, "id", req.id).status());
  ASSIGN_OR_RETURN(std::optional<element> params, ObjectField(root, "parameters", Loc{}));
  if (params) {
    req.parameters_json = simdjson::minify(*params);
    RETURN_IF_ERROR(BoolField(*params, "binary_data_output", Loc{}, "parameters.binary_data_output",
                              req.binary_data_output));
  }
  std::optional<element> inputs = Field(root, "inputs");
  if (!inputs) return InvalidArgument("request body: missing required field 'inputs'");
  // An empty list is valid: graphs without inputs (e.g. a Constant) exist, and the model check
  // reports any input a model needs but did not get.
  ASSIGN_OR_RETURN(dom::array input_array, BoundedArray(*inputs, "inputs", "inputs", limits.max_inputs));
  req.inputs.resize(input_array.size());
  size_t idx = 0;
  for (element in : input_array) {
    Tensor& t = req.inputs[idx];
    RETURN_IF_ERROR(ParseInput(idx, in, limits, bin, t));
    for (size_t j = 0; j < idx; ++j) {
      if (req.inputs[j].name == t.name) {
        return InvalidArgument(Input(idx) + ".name: " + Quoted(t.name) + " is already used by " + Input(j));
      }
    }
    ++idx;
  }
  if (bin.pos != bin.bytes.size()) {
    const size_t extra = bin.bytes.size() - bin.pos;
    return InvalidArgument("binary section too long: " + std::to_string(extra) +
                           " bytes left over after the " + std::to_string(bin.pos) +
                           " bytes the inputs declare");
  }

  if (std::optional<element> outputs = Field(root, "outputs")) {
    RETURN_IF_ERROR(ParseOutputs(*outputs, limits, req));
  }
  return req;
}

}  // namespace continuum::v2
