#include "grpc/grpc_codec.h"

#include <simdjson.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/json_writer.h"
#include "common/tensor.h"

namespace continuum::grpc_api {
namespace {

static_assert(std::endian::native == std::endian::little, "x86-64 and arm64 only");

using inference::InferParameter;
using inference::InferTensorContents;

std::string Input(size_t i) { return "inputs[" + std::to_string(i) + "]"; }
std::string Output(size_t i) { return "outputs[" + std::to_string(i) + "]"; }
std::string Raw(size_t i) { return "raw_input_contents[" + std::to_string(i) + "]"; }

// An input's or requested output's parameters, checked by REST's rule.
Status RefuseUnimplementedParameters(const ParameterMap& params, const std::string& where) {
  return v2::RefuseUnimplementedParameters(
      [&params](std::string_view key) { return params.count(std::string(key)) > 0; }, where);
}

// The typed field that carries a datatype's elements (nullptr: none, FP16 and BF16).
const char* TypedFieldName(DataType dtype) {
  switch (dtype) {
    case DataType::kBool: return "bool_contents";
    case DataType::kInt8:
    case DataType::kInt16:
    case DataType::kInt32: return "int_contents";
    case DataType::kInt64: return "int64_contents";
    case DataType::kUint8:
    case DataType::kUint16:
    case DataType::kUint32: return "uint_contents";
    case DataType::kUint64: return "uint64_contents";
    case DataType::kFp32: return "fp32_contents";
    case DataType::kFp64: return "fp64_contents";
    case DataType::kBytes: return "bytes_contents";
    case DataType::kFp16:
    case DataType::kBf16: return nullptr;
  }
  return nullptr;
}

// Element counts of every typed field, by name, in field-number order.
std::pair<const char*, int> FieldSizes(const InferTensorContents& c, size_t k) {
  switch (k) {
    case 0: return {"bool_contents", c.bool_contents_size()};
    case 1: return {"int_contents", c.int_contents_size()};
    case 2: return {"int64_contents", c.int64_contents_size()};
    case 3: return {"uint_contents", c.uint_contents_size()};
    case 4: return {"uint64_contents", c.uint64_contents_size()};
    case 5: return {"fp32_contents", c.fp32_contents_size()};
    case 6: return {"fp64_contents", c.fp64_contents_size()};
    default: return {"bytes_contents", c.bytes_contents_size()};
  }
}
constexpr size_t kTypedFields = 8;

// Narrows the elements of a wider typed field into a tensor of T, range-checked.
template <typename T, typename Field>
Status PutNarrowed(const Field& field, size_t idx, DataType dtype, const char* name, Tensor& t) {
  t.data.resize(static_cast<size_t>(field.size()) * sizeof(T));
  char* out = t.data.data();
  for (int k = 0; k < field.size(); ++k) {
    const auto x = field.Get(k);
    if (!std::in_range<T>(x)) {
      return InvalidArgument(Input(idx) + ".contents." + name + "[" + std::to_string(k) + "]: " +
                             std::to_string(x) + " is out of range for " + std::string(DataTypeName(dtype)));
    }
    const T v = static_cast<T>(x);
    std::memcpy(out, &v, sizeof v);
    out += sizeof v;
  }
  return Status::Ok();
}

template <typename Field>
void PutPacked(const Field& field, Tensor& t) {
  using T = std::remove_cvref_t<decltype(field.Get(0))>;
  t.data.resize(static_cast<size_t>(field.size()) * sizeof(T));
  if (field.size() > 0) std::memcpy(t.data.data(), field.data(), t.data.size());
}

Status DecodeTyped(size_t idx, const InferTensorContents& c, int64_t n, Tensor& t) {
  const char* want = TypedFieldName(t.dtype);
  if (want == nullptr) {
    return InvalidArgument(Input(idx) + ".contents: " + std::string(DataTypeName(t.dtype)) +
                           " has no typed contents field; send the tensor in raw_input_contents");
  }
  int held = 0;
  for (size_t k = 0; k < kTypedFields; ++k) {
    auto [name, size] = FieldSizes(c, k);
    if (std::strcmp(name, want) == 0) {
      held = size;
    } else if (size > 0) {
      return InvalidArgument(Input(idx) + ".contents: " + std::string(DataTypeName(t.dtype)) +
                             " elements go in " + want + ", but " + name + " holds " + std::to_string(size));
    }
  }
  if (held != n) {
    return InvalidArgument(Input(idx) + ".contents: holds " + std::to_string(held) + " elements but shape " +
                           ShapeToString(t.shape) + " needs " + std::to_string(n));
  }
  switch (t.dtype) {
    case DataType::kBool:
      t.data.resize(static_cast<size_t>(n));
      for (int k = 0; k < c.bool_contents_size(); ++k) t.data[k] = c.bool_contents(k) ? 1 : 0;
      return Status::Ok();
    case DataType::kInt8: return PutNarrowed<int8_t>(c.int_contents(), idx, t.dtype, want, t);
    case DataType::kInt16: return PutNarrowed<int16_t>(c.int_contents(), idx, t.dtype, want, t);
    case DataType::kInt32: PutPacked(c.int_contents(), t); return Status::Ok();
    case DataType::kInt64: PutPacked(c.int64_contents(), t); return Status::Ok();
    case DataType::kUint8: return PutNarrowed<uint8_t>(c.uint_contents(), idx, t.dtype, want, t);
    case DataType::kUint16: return PutNarrowed<uint16_t>(c.uint_contents(), idx, t.dtype, want, t);
    case DataType::kUint32: PutPacked(c.uint_contents(), t); return Status::Ok();
    case DataType::kUint64: PutPacked(c.uint64_contents(), t); return Status::Ok();
    case DataType::kFp32: PutPacked(c.fp32_contents(), t); return Status::Ok();
    case DataType::kFp64: PutPacked(c.fp64_contents(), t); return Status::Ok();
    case DataType::kBytes: {
      size_t total = 0;
      for (const std::string& s : c.bytes_contents()) total += 4 + s.size();
      t.data.reserve(total);
      for (int k = 0; k < c.bytes_contents_size(); ++k) {
        const std::string& s = c.bytes_contents(k);
        if (s.size() > std::numeric_limits<uint32_t>::max()) {
          return InvalidArgument(Input(idx) + ".contents.bytes_contents[" + std::to_string(k) +
                                 "]: string of " + std::to_string(s.size()) + " bytes is too long for BYTES");
        }
        AppendBytesElement(t.data, s);
      }
      return Status::Ok();
    }
    case DataType::kFp16:
    case DataType::kBf16: break;
  }
  return Internal("unhandled datatype");
}

Status DecodeRaw(size_t idx, std::string* raw, int64_t n, Tensor& t) {
  if (t.dtype == DataType::kBytes) {
    RETURN_IF_ERROR(CheckBytesFraming(*raw, n).WithContext(Raw(idx)));
  } else {
    const uint64_t want = static_cast<uint64_t>(n) * ElementSize(t.dtype);  // n is limited: no overflow
    if (raw->size() != want) {
      return InvalidArgument(Raw(idx) + ": " + std::to_string(raw->size()) + " bytes but shape " +
                             ShapeToString(t.shape) + " of " + std::string(DataTypeName(t.dtype)) +
                             " needs " + std::to_string(want));
    }
    if (t.dtype == DataType::kBool) {
      // A bool byte other than 0 or 1 is undefined behavior for C++ consumers: reject it here.
      for (size_t k = 0; k < raw->size(); ++k) {
        const auto b = static_cast<unsigned char>((*raw)[k]);
        if (b > 1) {
          return InvalidArgument(Raw(idx) + ": BOOL element " + std::to_string(k) + " is " +
                                 std::to_string(b) + " (must be 0 or 1)");
        }
      }
    }
  }
  t.data.swap(*raw);
  return Status::Ok();
}

Status DecodeInput(size_t idx, inference::ModelInferRequest::InferInputTensor& in, std::string* raw,
                   const v2::CodecLimits& limits, Tensor& t) {
  if (in.name().empty()) return InvalidArgument(Input(idx) + ": missing required field 'name'");
  if (in.datatype().empty()) return InvalidArgument(Input(idx) + ": missing required field 'datatype'");
  std::optional<DataType> dtype = ParseDataType(in.datatype());
  if (!dtype) {
    return InvalidArgument(Input(idx) + ".datatype: unknown datatype " + Quoted(in.datatype()) +
                           " (expected BOOL, UINT8..UINT64, INT8..INT64, FP16, BF16, FP32, FP64 or BYTES)");
  }
  t.name = in.name();
  t.dtype = *dtype;
  t.shape.reserve(static_cast<size_t>(in.shape_size()));
  for (int k = 0; k < in.shape_size(); ++k) {
    if (in.shape(k) < 0) {
      return InvalidArgument(Input(idx) + ".shape[" + std::to_string(k) +
                             "]: expected a non-negative integer, got " + std::to_string(in.shape(k)));
    }
    t.shape.push_back(in.shape(k));
  }
  StatusOr<int64_t> count = ElementCount(t.shape, limits.max_tensor_elements);
  if (!count.ok()) return count.status().WithContext(Input(idx) + ".shape");
  const int64_t n = *count;
  RETURN_IF_ERROR(RefuseUnimplementedParameters(in.parameters(), Input(idx)));

  if (raw != nullptr) {
    if (in.has_contents()) {
      return InvalidArgument(Input(idx) + ": has both 'contents' and raw_input_contents; use one");
    }
    return DecodeRaw(idx, raw, n, t);
  }
  if (!in.has_contents()) {
    if (n == 0) return Status::Ok();
    return InvalidArgument(Input(idx) + ": missing 'contents' (or raw_input_contents for the request)");
  }
  Status st = DecodeTyped(idx, in.contents(), n, t);
  in.clear_contents();  // the tensor holds the elements now
  return st;
}

// Appends `src`'s elements, read as T from the tensor bytes, to a typed field of type U.
template <typename T, typename Field>
void AppendAs(const std::string& data, Field* field) {
  const size_t count = data.size() / sizeof(T);
  field->Reserve(static_cast<int>(count));
  for (size_t k = 0; k < count; ++k) {
    T v;
    std::memcpy(&v, data.data() + k * sizeof(T), sizeof v);
    field->Add(v);
  }
}

void EncodeTyped(const Tensor& t, InferTensorContents* c) {
  switch (t.dtype) {
    case DataType::kBool: AppendAs<uint8_t>(t.data, c->mutable_bool_contents()); return;
    case DataType::kInt8: AppendAs<int8_t>(t.data, c->mutable_int_contents()); return;
    case DataType::kInt16: AppendAs<int16_t>(t.data, c->mutable_int_contents()); return;
    case DataType::kInt32: AppendAs<int32_t>(t.data, c->mutable_int_contents()); return;
    case DataType::kInt64: AppendAs<int64_t>(t.data, c->mutable_int64_contents()); return;
    case DataType::kUint8: AppendAs<uint8_t>(t.data, c->mutable_uint_contents()); return;
    case DataType::kUint16: AppendAs<uint16_t>(t.data, c->mutable_uint_contents()); return;
    case DataType::kUint32: AppendAs<uint32_t>(t.data, c->mutable_uint_contents()); return;
    case DataType::kUint64: AppendAs<uint64_t>(t.data, c->mutable_uint64_contents()); return;
    case DataType::kFp32: AppendAs<float>(t.data, c->mutable_fp32_contents()); return;
    case DataType::kFp64: AppendAs<double>(t.data, c->mutable_fp64_contents()); return;
    case DataType::kBytes: {
      auto parts = SplitBytesElements(t.data, -1);  // framing is ours (the runtime wrote it)
      if (!parts.ok()) return;
      for (std::string_view p : *parts) c->add_bytes_contents(std::string(p));
      return;
    }
    case DataType::kFp16:
    case DataType::kBf16: return;  // never typed (see EncodeInferResponse)
  }
}

}  // namespace

StatusOr<int64_t> ParseModelVersion(std::string_view s) {
  if (s.empty()) return int64_t{-1};
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size() || v <= 0) {
    return InvalidArgument("model version " + Quoted(s) + " is not a positive integer");
  }
  return v;
}

StatusOr<InferRequest> DecodeInferRequest(inference::ModelInferRequest* msg, const v2::CodecLimits& limits) {
  InferRequest req;
  req.id = msg->id();
  req.model_name = msg->model_name();
  ASSIGN_OR_RETURN(req.model_version, ParseModelVersion(msg->model_version()));
  if (!msg->parameters().empty()) {
    ASSIGN_OR_RETURN(req.parameters_json, ParametersToJson(msg->parameters(), "parameters"));
  }

  const size_t input_count = static_cast<size_t>(msg->inputs_size());
  if (input_count > limits.max_inputs) {
    return InvalidArgument("inputs: " + std::to_string(input_count) + " inputs exceed the limit of " +
                           std::to_string(limits.max_inputs));
  }
  const size_t raw_count = static_cast<size_t>(msg->raw_input_contents_size());
  if (raw_count > 0 && raw_count != input_count) {
    return InvalidArgument("raw_input_contents: " + std::to_string(raw_count) + " entries for " +
                           std::to_string(input_count) + " inputs (one per input when used)");
  }
  req.inputs.resize(input_count);
  for (size_t idx = 0; idx < input_count; ++idx) {
    Tensor& t = req.inputs[idx];
    std::string* raw = raw_count > 0 ? msg->mutable_raw_input_contents(static_cast<int>(idx)) : nullptr;
    RETURN_IF_ERROR(DecodeInput(idx, *msg->mutable_inputs(static_cast<int>(idx)), raw, limits, t));
    for (size_t j = 0; j < idx; ++j) {
      if (req.inputs[j].name == t.name) {
        return InvalidArgument(Input(idx) + ".name: " + Quoted(t.name) + " is already used by " + Input(j));
      }
    }
  }

  const size_t output_count = static_cast<size_t>(msg->outputs_size());
  if (output_count > limits.max_outputs) {
    return InvalidArgument("outputs: " + std::to_string(output_count) +
                           " requested outputs exceed the limit of " + std::to_string(limits.max_outputs));
  }
  req.outputs.reserve(output_count);
  for (size_t idx = 0; idx < output_count; ++idx) {
    const auto& out = msg->outputs(static_cast<int>(idx));
    if (out.name().empty()) return InvalidArgument(Output(idx) + ": missing required field 'name'");
    RETURN_IF_ERROR(RefuseUnimplementedParameters(out.parameters(), Output(idx)));
    for (size_t j = 0; j < req.outputs.size(); ++j) {
      if (req.outputs[j].name == out.name()) {
        return InvalidArgument(Output(idx) + ".name: " + Quoted(out.name()) + " is already requested by " +
                               Output(j));
      }
    }
    req.outputs.push_back(RequestedOutput{.name = out.name(), .binary = false});
  }
  return req;
}

Status EncodeInferResponse(InferResponse&& response, bool raw, inference::ModelInferResponse* out) {
  out->set_model_name(std::move(response.model_name));
  out->set_model_version(std::to_string(response.model_version));
  out->set_id(std::move(response.id));
  for (const Tensor& t : response.outputs) raw = raw || TypedFieldName(t.dtype) == nullptr;
  for (Tensor& t : response.outputs) {
    auto* o = out->add_outputs();
    o->set_name(std::move(t.name));
    o->set_datatype(std::string(DataTypeName(t.dtype)));
    for (int64_t d : t.shape) o->add_shape(d);
    if (raw) {
      *out->add_raw_output_contents() = std::move(t.data);
    } else {
      EncodeTyped(t, o->mutable_contents());
      std::string().swap(t.data);
    }
  }
  if (response.parameters_json.empty()) return Status::Ok();
  return ParametersFromJson(response.parameters_json, out->mutable_parameters());
}

StatusOr<std::string> ParametersToJson(const ParameterMap& params, std::string_view where) {
  std::vector<const ParameterMap::value_type*> sorted;  // the map's order is unspecified
  sorted.reserve(params.size());
  for (const auto& kv : params) sorted.push_back(&kv);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  std::string json;
  JsonWriter w(&json);
  w.BeginObject();
  for (const auto* kv : sorted) {
    const std::string& key = kv->first;
    if (!simdjson::validate_utf8(key.data(), key.size())) {
      return InvalidArgument(std::string(where) + ": a key is not valid UTF-8");
    }
    auto at = [&] { return std::string(where) + "." + key; };
    const InferParameter& p = kv->second;
    w.Key(key);
    switch (p.parameter_choice_case()) {
      case InferParameter::kBoolParam: w.Bool(p.bool_param()); break;
      case InferParameter::kInt64Param: w.Int(p.int64_param()); break;
      case InferParameter::kUint64Param: w.Uint(p.uint64_param()); break;
      case InferParameter::kStringParam:
        if (!simdjson::validate_utf8(p.string_param().data(), p.string_param().size())) {
          return InvalidArgument(at() + ": string_param is not valid UTF-8");
        }
        w.String(p.string_param());
        break;
      case InferParameter::kDoubleParam: {
        char text[32];
        char* end = std::to_chars(text, text + sizeof text, p.double_param()).ptr;
        std::string number(text, end);
        if (!std::isfinite(p.double_param())) {
          return InvalidArgument(at() + ": double_param " + number + " is not a finite number");
        }
        if (number.find_first_of(".e") == std::string::npos) number += ".0";  // reads back as a double
        w.Raw(number);
        break;
      }
      case InferParameter::PARAMETER_CHOICE_NOT_SET: w.Null(); break;
    }
  }
  w.EndObject();
  return json;
}

Status ParametersFromJson(std::string_view json, ParameterMap* out) {
  namespace dom = simdjson::dom;
  dom::parser parser;
  dom::element root;
  if (auto err = parser.parse(json.data(), json.size(), true).get(root)) {
    return InvalidArgument("parameters: invalid JSON: " + std::string(simdjson::error_message(err)));
  }
  dom::object object;
  if (root.get_object().get(object)) return InvalidArgument("parameters: expected a JSON object");
  for (dom::key_value_pair member : object) {
    std::string key(member.key);
    if (out->count(key) > 0) continue;  // duplicate keys: the first wins, as REST reads them
    InferParameter p;
    const dom::element v = member.value;
    switch (v.type()) {
      case dom::element_type::BOOL: p.set_bool_param(v.get_bool().value_unsafe()); break;
      case dom::element_type::INT64: p.set_int64_param(v.get_int64().value_unsafe()); break;
      case dom::element_type::UINT64: p.set_uint64_param(v.get_uint64().value_unsafe()); break;
      case dom::element_type::DOUBLE: p.set_double_param(v.get_double().value_unsafe()); break;
      case dom::element_type::STRING: p.set_string_param(std::string(v.get_string().value_unsafe())); break;
      case dom::element_type::NULL_VALUE: break;
      case dom::element_type::ARRAY:
      case dom::element_type::OBJECT:
        return InvalidArgument("parameters." + key + ": " +
                               (v.type() == dom::element_type::ARRAY ? "an array" : "an object") +
                               " has no InferParameter form (bool, int64, uint64, double or string)");
    }
    (*out)[key] = std::move(p);
  }
  return Status::Ok();
}

}  // namespace continuum::grpc_api
