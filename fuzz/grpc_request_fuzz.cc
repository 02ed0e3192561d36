// libFuzzer target for the v2 gRPC message-to-tensor path: the input is a serialized
// ModelInferRequest (the bytes gRPC hands the service). Every message that parses goes through
// DecodeInferRequest under small limits; every request that decodes must hold valid tensors, and
// is turned into a response (inputs echoed as outputs) that is encoded both raw and typed and
// decoded back: the tensors must come back bit for bit, and the request's parameters (carried as
// JSON, echoed in the response's map) as the same JSON text.
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "fuzz_check.h"
#include "grpc/grpc_codec.h"

namespace {

using namespace continuum;

using continuum::fuzz::Check;

// The response's outputs as a request's inputs (raw or typed, as the response carries them).
inference::ModelInferRequest AsRequest(const inference::ModelInferResponse& resp) {
  inference::ModelInferRequest req;
  for (const auto& o : resp.outputs()) {
    auto* in = req.add_inputs();
    in->set_name(o.name());
    in->set_datatype(o.datatype());
    *in->mutable_shape() = o.shape();
    if (o.has_contents()) *in->mutable_contents() = o.contents();
  }
  *req.mutable_raw_input_contents() = resp.raw_output_contents();
  *req.mutable_parameters() = resp.parameters();
  return req;
}

void RoundTrip(const InferRequest& decoded, bool raw, const v2::CodecLimits& limits) {
  InferResponse resp;
  resp.outputs = decoded.inputs;
  resp.parameters_json = decoded.parameters_json;
  inference::ModelInferResponse encoded;
  Check(grpc_api::EncodeInferResponse(InferResponse(resp), raw, &encoded).ok(),
        "a decoded request's parameters encode");
  inference::ModelInferRequest again = AsRequest(encoded);
  auto back = grpc_api::DecodeInferRequest(&again, limits);
  Check(back.ok(), "an encoded response decodes");
  Check(back->parameters_json == decoded.parameters_json, "the parameters come back as they went");
  Check(back->inputs.size() == decoded.inputs.size(), "same tensor count");
  for (size_t i = 0; i < decoded.inputs.size(); ++i) {
    const Tensor& a = decoded.inputs[i];
    const Tensor& b = back->inputs[i];
    Check(a.name == b.name && a.dtype == b.dtype && a.shape == b.shape, "same tensor header");
    // BOOL typed contents normalize any nonzero byte, but decoded BOOL bytes are 0 or 1 already.
    Check(a.data == b.data, "same tensor bytes");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  inference::ModelInferRequest msg;
  if (!msg.ParseFromArray(data, static_cast<int>(size))) return 0;
  v2::CodecLimits limits;
  limits.max_tensor_elements = 1 << 16;
  limits.max_inputs = 16;
  limits.max_outputs = 16;
  auto req = grpc_api::DecodeInferRequest(&msg, limits);
  if (!req.ok()) {
    Check(req.status().code() == StatusCode::kInvalidArgument, "decode errors are kInvalidArgument");
    Check(!req.status().message().empty(), "decode errors say what was wrong");
    return 0;
  }
  for (const Tensor& t : req->inputs) Check(t.Validate().ok(), "decoded tensors are valid");
  RoundTrip(*req, /*raw=*/true, limits);
  RoundTrip(*req, /*raw=*/false, limits);
  return 0;
}
