// KServe Open Inference Protocol v2 (REST) request/response codec, including the binary tensor
// data extension. Parses untrusted bytes straight into native tensors; all checks that need no
// model (JSON shape, datatypes, element counts, data length vs shape, binary section framing)
// happen here, so nothing malformed reaches the scheduler.
// Thread-safe: free functions with no shared state.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/inference.h"
#include "common/status.h"

namespace continuum::v2 {

struct CodecLimits {
  size_t max_json_depth = 32;             // nesting of objects/arrays (nested "data" included);
                                          // values above 1024 act as 1024
  int64_t max_tensor_elements = 1 << 28;  // per tensor
  size_t max_inputs = 256;                // tensors per request
  size_t max_outputs = 256;               // requested outputs per request
};

// Parameters of Triton extensions this node does not implement (shared memory, classification),
// refused by name on an input or a requested output, over REST and gRPC alike: ignoring them would
// answer in another form than the one the client waits for (the tensor in the answer instead of in
// its shared memory region; raw scores instead of "score:index" strings). `present` says whether
// the tensor's parameters hold a key; `where` names the tensor ("outputs[0]"). Any other parameter
// is left to the caller.
Status RefuseUnimplementedParameters(const std::function<bool(std::string_view)>& present,
                                     const std::string& where);

// Parses an infer request body.
// `json_length` is the value of the Inference-Header-Content-Length header when present: the
// first `json_length` bytes are the JSON header and the rest holds binary tensor data, consumed
// in input order by inputs whose parameters carry "binary_data_size". Without it the whole body
// is JSON. Errors are kInvalidArgument with a message that says where ("inputs[1].data[7]: ...").
// model_name / model_version of the result are left for the caller (they come from the URL).
StatusOr<InferRequest> ParseInferRequest(std::string_view body, std::optional<size_t> json_length,
                                         const CodecLimits& limits = {});

struct EncodedResponse {
  std::string body;
  // Set when the body carries a binary section: the length of its JSON header, to be sent as
  // the Inference-Header-Content-Length response header.
  std::optional<size_t> json_length;
};

// Encodes an infer response. Outputs marked binary go to the binary section with a
// "binary_data_size" parameter; the others are written as flat JSON "data" arrays.
EncodedResponse EncodeInferResponse(const InferResponse& response);

// Writes {"error": message} as a body.
std::string ErrorBody(std::string_view message);

}  // namespace continuum::v2
