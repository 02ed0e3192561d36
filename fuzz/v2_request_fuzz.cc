// libFuzzer target for the KServe v2 request codec.
// Input layout: 4 bytes (little-endian u32) then the request body. When the top bit of the u32 is
// set the body is plain JSON; otherwise json_length = u32 % (body size + 2), so the fuzzer can also
// reach lengths past the end of the body.
// Every request that parses is turned into a response (inputs echoed as outputs) and encoded; the
// encoded JSON must be valid, and re-parsing it as a request must give the same tensors back.
#include <simdjson.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "api/v2_codec.h"
#include "fuzz_check.h"

namespace {

using namespace continuum;

using continuum::fuzz::Check;

void CheckValidJson(std::string_view json, const char* what) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  Check(!parser.parse(json.data(), json.size(), true).get(root), what);
}

// Whether a tensor survives the JSON data form bit for bit (non-finite floats become null and
// invalid UTF-8 in BYTES is replaced).
bool JsonExact(const Tensor& t) {
  const std::string& d = t.data;
  switch (t.dtype) {
    case DataType::kFp16:
    case DataType::kBf16:
      for (size_t i = 0; i + 2 <= d.size(); i += 2) {
        uint16_t h;
        std::memcpy(&h, d.data() + i, 2);
        if (!std::isfinite(t.dtype == DataType::kFp16 ? HalfToFloat(h) : Bf16ToFloat(h))) {
          return false;
        }
      }
      return true;
    case DataType::kFp32:
      for (size_t i = 0; i + 4 <= d.size(); i += 4) {
        float f;
        std::memcpy(&f, d.data() + i, 4);
        if (!std::isfinite(f)) return false;
      }
      return true;
    case DataType::kFp64:
      for (size_t i = 0; i + 8 <= d.size(); i += 8) {
        double f;
        std::memcpy(&f, d.data() + i, 8);
        if (!std::isfinite(f)) return false;
      }
      return true;
    case DataType::kBytes: {
      auto parts = SplitBytesElements(d, -1);
      if (!parts.ok()) return false;
      for (std::string_view p : *parts) {
        if (!simdjson::validate_utf8(p.data(), p.size())) return false;
      }
      return true;
    }
    default: return true;
  }
}

// Encodes `inputs` as outputs (binary or JSON data), turns the response into a request by
// renaming "outputs" to "inputs", parses it and compares.
void CheckRoundTrip(const std::vector<Tensor>& inputs, bool binary) {
  InferResponse resp;
  resp.model_name = "m";
  resp.model_version = 1;
  resp.outputs = inputs;
  resp.binary.assign(inputs.size(), binary);
  v2::EncodedResponse enc = v2::EncodeInferResponse(resp);
  static constexpr std::string_view kHead = R"({"model_name":"m","model_version":"1","outputs":[)";
  Check(enc.body.compare(0, kHead.size(), kHead) == 0, "response starts as expected");
  Check(enc.json_length.has_value() == (binary && !inputs.empty()), "json_length iff binary");
  const std::string body = R"({"inputs":[)" + enc.body.substr(kHead.size());
  std::optional<size_t> json_length;
  if (enc.json_length) json_length = *enc.json_length - kHead.size() + 11;
  auto back = v2::ParseInferRequest(body, json_length);
  if (!back.ok()) std::fprintf(stderr, "%s\n", back.status().ToString().c_str());
  Check(back.ok(), "an encoded response parses back as a request");
  Check(back->inputs.size() == inputs.size(), "round trip keeps the tensor count");
  for (size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& a = inputs[i];
    const Tensor& b = back->inputs[i];
    Check(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape, "round trip keeps metadata");
    Check(a.data == b.data, "round trip keeps the data bytes");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  uint32_t prefix;
  std::memcpy(&prefix, data, 4);
  const std::string_view body(reinterpret_cast<const char*>(data) + 4, size - 4);
  std::optional<size_t> json_length;
  if (!(prefix & 0x80000000u)) json_length = prefix % (body.size() + 2);

  StatusOr<InferRequest> parsed = v2::ParseInferRequest(body, json_length);
  if (!parsed.ok()) {
    Check(parsed.status().code() == StatusCode::kInvalidArgument, "errors are kInvalidArgument");
    Check(!parsed.status().message().empty(), "errors have a message");
    CheckValidJson(v2::ErrorBody(parsed.status().message()), "ErrorBody is valid JSON");
    return 0;
  }
  InferRequest& req = *parsed;
  for (const Tensor& t : req.inputs) Check(t.Validate().ok(), "parsed tensors are valid");
  if (!req.parameters_json.empty()) CheckValidJson(req.parameters_json, "parameters_json is JSON");

  // The response a server would send: inputs echoed, binary flags from the request.
  InferResponse resp;
  resp.id = req.id;
  resp.model_name = "m";
  resp.model_version = 1;
  resp.parameters_json = req.parameters_json;
  resp.outputs = req.inputs;
  for (size_t i = 0; i < resp.outputs.size(); ++i) {
    resp.binary.push_back(i < req.outputs.size() ? req.outputs[i].binary : req.binary_data_output);
  }
  v2::EncodedResponse enc = v2::EncodeInferResponse(resp);
  const size_t json_size = enc.json_length.value_or(enc.body.size());
  Check(json_size <= enc.body.size(), "json_length within the body");
  CheckValidJson(std::string_view(enc.body).substr(0, json_size), "response JSON is valid");

  CheckRoundTrip(req.inputs, /*binary=*/true);
  bool exact = true;
  for (const Tensor& t : req.inputs) exact = exact && JsonExact(t);
  if (exact) CheckRoundTrip(req.inputs, /*binary=*/false);
  return 0;
}
