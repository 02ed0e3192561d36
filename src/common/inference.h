// Native inference requests and responses (protocol-independent).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/cancel.h"
#include "common/tensor.h"

namespace continuum {

struct RequestedOutput {
  std::string name;
  bool binary = false;  // send this output in the binary section (binary tensor data extension)
};

struct InferRequest {
  std::string id;  // echoed in the response
  std::string model_name;
  int64_t model_version = -1;  // -1: the policy's latest ready version
  std::vector<Tensor> inputs;
  std::vector<RequestedOutput> outputs;  // empty: every output of the model
  bool binary_data_output = false;       // request-level default for outputs not listed
  std::string parameters_json;           // raw JSON object of request "parameters", or empty
  // Set by the transport when the client is gone; the scheduler then drops the request unrun.
  CancelToken cancel;
};

struct InferResponse {
  std::string id;
  std::string model_name;
  int64_t model_version = 0;
  std::vector<Tensor> outputs;
  std::vector<bool> binary;     // per output: encode in the binary section
  std::string parameters_json;  // raw JSON object passed back to the client, or empty
  // Set by the scheduler: the engine run that carried this request (batch assembly, the session
  // run, output split; emulated slowness included) and this request's rows / the run's rows.
  int64_t run_ns = 0;
  double batch_share = 1.0;
};

}  // namespace continuum
