// The KServe v2 REST front end: health, metadata, inference (JSON and the binary tensor data
// extension), the model repository extension, the statistics extension, model configuration,
// and Prometheus /metrics.
//
// Threading: Handle runs on an HTTP I/O thread. It parses the request into native types, looks
// up the model and queues the request with the model's scheduler; the answer is encoded on the
// scheduler's instance thread and handed back through the Responder (which posts the write to
// the connection's I/O strand). No thread waits for inference.
#pragma once

#include <atomic>
#include <string>

#include "api/v2_codec.h"
#include "http/message.h"
#include "repository/repository.h"
#include "telemetry/metrics.h"

namespace continuum {

struct V2ApiOptions {
  std::string server_name = "continuum";
  std::string server_version;
  v2::CodecLimits codec_limits;
  // The largest request body once its Content-Encoding (gzip, deflate) is undone; serve sets it
  // to --max-body-bytes, so a compressed body is held to the limit of a plain one (413 beyond).
  size_t max_decoded_body_bytes = 64u << 20;
  int retry_after_seconds = 1;  // Retry-After on 503
};

class V2Api {
 public:
  V2Api(V2ApiOptions options, ModelRepository* repository, telemetry::Registry* registry);

  // Routes one HTTP request. Unknown routes get 404, wrong methods 405.
  void Handle(http::Request&& request, http::Responder respond);

  // From now on inference gets 503 and readiness false (the node is draining before it stops).
  void BeginShutdown() { shutting_down_.store(true); }

  // The body-less error answer used for every failure: {"error": "..."} with the mapped status.
  http::Response ErrorResponse(const Status& status) const;

 private:
  void Infer(http::Request&& request, const std::string& model, int64_t version, http::Responder respond);
  http::Response ModelMetadata(const std::string& model, int64_t version);
  http::Response ModelReady(const std::string& model, int64_t version);
  http::Response ModelConfigJson(const std::string& model, int64_t version);
  http::Response Stats(const std::string& model, int64_t version);
  http::Response RepositoryIndex(const http::Request& request);
  http::Response RepositoryLoad(const http::Request& request, const std::string& model, bool load);

  V2ApiOptions options_;
  ModelRepository* repository_;
  telemetry::Registry* registry_;
  std::atomic<bool> shutting_down_{false};
};

}  // namespace continuum
