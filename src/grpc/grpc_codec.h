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

// Decodes `msg` into a native request. Consumes the message: raw_input_contents are moved into
// the tensors (no copy of the tensor bytes), so the caller must not read them afterwards.
// Inputs carry either typed `contents` (the field for their datatype, nothing else) or, for the
// whole request, one raw_input_contents entry per input. model_name and model_version are set
// from the message (version "" is -1: the policy's choice). Errors are kInvalidArgument.
StatusOr<InferRequest> DecodeInferRequest(inference::ModelInferRequest* msg, const v2::CodecLimits& limits);

// Parses a model version as the protocol writes it: "" is -1, else a positive integer.
StatusOr<int64_t> ParseModelVersion(std::string_view version);

// Whether the request carried its tensors as raw_input_contents (the answer then does too).
inline bool UsesRawContents(const inference::ModelInferRequest& msg) {
  return msg.raw_input_contents_size() > 0;
}

// Encodes a response, moving the output tensors' bytes. With `raw` (or when an output's
// datatype has no typed field: FP16, BF16) every output travels in raw_output_contents;
// otherwise in its typed contents.
void EncodeInferResponse(InferResponse&& response, bool raw, inference::ModelInferResponse* out);

}  // namespace continuum::grpc_api
