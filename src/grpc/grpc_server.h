// The KServe v2 gRPC front end (`inference.GRPCInferenceService`, inference_service.proto) over
// an InferenceNode: health, server and model metadata, ModelInfer (typed contents and raw
// contents), and Triton's repository (index, load, unload) and statistics RPCs. Requests go
// through the same code paths as REST: grpc_codec decodes into the native InferRequest under the
// REST codec limits, ModelVersion::Infer validates it against the signature (ValidateRequest)
// and queues it with the version's scheduler (same queue count and byte budgets), and Status
// codes become gRPC codes in one place (grpc_status_map.h) with the same messages.
//
// Threading: gRPC's callback API. Each RPC handler runs on a thread of gRPC's own callback pool
// and returns a reactor at once; ModelInfer decodes and queues the request and returns, and the
// answer is encoded and finished on the version's scheduler instance thread, so no gRPC thread
// waits while a request sits in the scheduler. Load and unload run on the calling gRPC thread
// (as REST runs them on its I/O thread). Messages larger than max_receive_message_bytes are
// refused by gRPC itself with RESOURCE_EXHAUSTED before any handler runs. With `tls` enabled the
// endpoint speaks only TLS (grpc_tls.h), with the HTTP listener's certificate and client policy.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "api/v2_codec.h"
#include "common/status.h"
#include "node/inference_node.h"
#include "tls/server_context.h"

namespace continuum::grpc_api {

struct GrpcServerOptions {
  std::string address = "0.0.0.0";
  int port = 8001;                               // 0: pick a free port (see GrpcServer::port)
  size_t max_receive_message_bytes = 64u << 20;  // serve: --max-body-bytes
  int max_concurrent_streams = 1024;             // RPCs in flight per connection
  v2::CodecLimits codec_limits;                  // the REST codec's limits
  std::string server_name = "continuum";
  std::string server_version;
  tls::ServerTlsOptions tls;  // serve's --tls-* flags; not enabled: plaintext
};

class GrpcServer {
 public:
  virtual ~GrpcServer() = default;
  virtual int port() const = 0;
  // From now on inference answers UNAVAILABLE and ServerReady false (the node is draining).
  virtual void BeginShutdown() = 0;
  // Stops accepting, cancels what is still open after a short grace period, and waits for
  // every handler to finish. Call after the node has drained. Idempotent.
  virtual void Stop() = 0;
};

// Binds and starts serving `node`, which must outlive the server. Errors: kInvalidArgument (bad
// options), kUnavailable (the address cannot be bound).
StatusOr<std::unique_ptr<GrpcServer>> StartGrpcServer(const GrpcServerOptions& options, InferenceNode& node);

}  // namespace continuum::grpc_api
