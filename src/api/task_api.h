// The task front end: Cloudflare Workers AI-shaped routes and OpenAI-compatible embeddings.
//
//   POST /ai/run/{model}  (also /accounts/{account}/ai/run/{model})
//        -> {"result": ..., "success": true, "errors": [], "messages": []}
//   GET  /ai/models, /ai/models/{model}      the catalog with input/output JSON Schemas
//   GET  /ai/models/search (also /accounts/{account}/ai/models/search)
//        -> Workers AI's model search: filters and pages (model_search.h), with "result_info"
//   POST /v1/embeddings, GET /v1/models      OpenAI-compatible
//
// Threading: Handle runs on an HTTP I/O thread; it decodes the request into a TaskRequest (every
// byte limit is checked there, so nothing oversize waits in a queue) and hands it to the
// TaskExecutor, whose queue is bounded by count and bytes; an executor thread runs the task
// (blocking on the model schedulers) and calls the Responder.
#pragma once

#include <string>
#include <string_view>

#include "http/message.h"
#include "tasks/catalog.h"
#include "tasks/executor.h"
#include "tasks/task.h"

namespace continuum {

class TaskApi {
 public:
  TaskApi(const tasks::Catalog* catalog, tasks::ModelRunner* runner, tasks::TaskExecutor* executor,
          tasks::TaskLimits limits);

  // True for paths this front end serves (/ai/..., /accounts/.../ai/..., /v1/...).
  static bool Owns(std::string_view path);
  void Handle(http::Request&& request, http::Responder respond);

 private:
  void Run(http::Request&& request, const std::string& model, http::Responder respond);
  void Embeddings(http::Request&& request, http::Responder respond);
  http::Response ListModels() const;
  http::Response DescribeModel(const std::string& model) const;
  http::Response OpenAiModels() const;

  const tasks::Catalog* catalog_;
  tasks::ModelRunner* runner_;
  tasks::TaskExecutor* executor_;
  tasks::TaskLimits limits_;
};

// Decodes a /ai/run body: raw bytes (image/audio) or a JSON object whose "image"/"audio" field is
// an array of bytes or a base64 string, "text" a string or an array of strings, and any other
// scalar fields options. Checks the byte limits before it allocates for a field: an image over
// max_image_bytes, audio over max_audio_bytes (a raw body is audio when it is a WAV) or a text
// over max_text_bytes is kPayloadTooLarge naming the field. The body is moved into the request
// (raw bytes) or released once decoded (JSON). Exposed for tests.
StatusOr<tasks::TaskRequest> DecodeTaskRequest(http::Request&& request, const tasks::TaskLimits& limits);

// One text of a request (`where` names it: "text", "input[2]"), within max_text_bytes
// (kPayloadTooLarge naming it and --max-text-bytes).
Status CheckTaskText(const std::string& where, std::string_view text, const tasks::TaskLimits& limits);

// The bytes a decoded request holds while it waits in the task queue.
int64_t TaskRequestBytes(const tasks::TaskRequest& request);

}  // namespace continuum
