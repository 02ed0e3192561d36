// ModelInferRequest / ModelInferResponse (the v2 gRPC messages) <-> the native InferRequest /
// InferResponse that the REST codec (api/v2_codec.h) produces and consumes. The same checks as
// REST happen here, with messages in the same style ("inputs[1].shape[0]: ..."), and under the
// same v2::CodecLimits; everything that needs the model (names, datatypes, shapes against the
// signature) is left to ValidateRequest, exactly as for REST.
// Thread-safe: free functions with no shared state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "api/v2_codec.h"
#include "common/inference.h"
#include "common/status.h"
#include "inference_service.pb.h"

namespace continuum::grpc_api {

using ParameterMap = google::protobuf::Map<std::string, inference::InferParameter>;

// Decodes `msg` into a native request. Consumes the message: raw_input_contents are moved into
// the tensors (no copy of the tensor bytes), so the caller must not read them afterwards.
// Inputs carry either typed `contents` (the field for their datatype, nothing else) or, for the
// whole request, one raw_input_contents entry per input. model_name and model_version are set
// from the message (version "" is -1: the policy's choice). The request's `parameters` become
// parameters_json, the JSON object REST carries them in (ParametersToJson), to be echoed in the
// answer as over REST; an input's or output's parameters are checked by REST's rule
// (v2::RefuseUnimplementedParameters) and otherwise ignored. Errors are kInvalidArgument.
StatusOr<InferRequest> DecodeInferRequest(inference::ModelInferRequest* msg, const v2::CodecLimits& limits);

// Parses a model version as the protocol writes it: "" is -1, else a positive integer.
StatusOr<int64_t> ParseModelVersion(std::string_view version);

// Whether the request carried its tensors as raw_input_contents (the answer then does too).
inline bool UsesRawContents(const inference::ModelInferRequest& msg) {
  return msg.raw_input_contents_size() > 0;
}

// Encodes a response, moving the output tensors' bytes. With `raw` (or when an output's
// datatype has no typed field: FP16, BF16) every output travels in raw_output_contents;
// otherwise in its typed contents. parameters_json, when set, becomes the answer's `parameters`
// (ParametersFromJson); its error is the only one.
Status EncodeInferResponse(InferResponse&& response, bool raw, inference::ModelInferResponse* out);

// A parameters map as a JSON object, keys sorted: bool_param true/false, int64_param and
// uint64_param integers, double_param a number that keeps a fraction or an exponent (2.0, so that
// it reads back as a double), string_param a string, a parameter with no value null. What JSON
// cannot hold is refused (kInvalidArgument, named from `where`, e.g. "parameters.d"): a double that
// is not finite, a key or a string that is not UTF-8 (REST refuses such a body as invalid JSON).
StatusOr<std::string> ParametersToJson(const ParameterMap& params, std::string_view where);

// A JSON object of scalars into a parameters map: true/false bool_param, an integer int64_param
// (uint64_param above INT64_MAX: a uint64_param below it comes back as int64_param, JSON having one
// integer kind), a number with a fraction or an exponent double_param, a string string_param, null
// a parameter with no value; the first of duplicate keys wins. A nested object or array has no
// InferParameter form and is refused (kInvalidArgument naming it), as is text that is not a JSON
// object.
Status ParametersFromJson(std::string_view json, ParameterMap* out);

}  // namespace continuum::grpc_api
