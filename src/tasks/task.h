// The task layer: requests shaped like Cloudflare Workers AI / OpenAI ("send an image, get text")
// turned into tensors, run through the same schedulers as v2 requests, and turned back into
// answers. Each task kind (ocr, voice-activity-detection, text-embeddings, ...) is a class
// registered by name; a catalog entry names the kind, the repository models it uses and its
// settings.
//
// Threading: Task::Run is called on a task-executor thread (never an HTTP I/O thread) and may
// block on ModelRunner calls. A Task object is shared by concurrent requests: Run must be
// thread-safe (tasks are immutable after Create).
#pragma once

#include <filesystem>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/paths.h"
#include "common/status.h"
#include "common/tensor.h"

namespace continuum::tasks {

// A task request, decoded by the API layer from JSON, a raw body or base64. JSON ends there.
struct TaskRequest {
  std::string binary;                          // image or audio bytes (empty if none)
  std::vector<std::string> texts;              // "text" / "input": one or many
  bool texts_is_array = false;                 // the client sent a list (the answer is then a list too)
  std::map<std::string, double> numbers;       // numeric options (top_k, threshold, ...)
  std::map<std::string, std::string> strings;  // string options
  std::map<std::string, bool> flags;           // boolean options
};

struct TaskResult {
  std::string result_json;                     // the Workers-AI-style "result" value
  std::vector<std::vector<float>> embeddings;  // text-embeddings: one vector per text
  int64_t tokens = 0;                          // input tokens consumed (usage), where it applies
};

// Runs inference through the repository's schedulers (so task requests batch with others and
// appear in the same statistics and metrics).
class ModelRunner {
 public:
  virtual ~ModelRunner() = default;
  // Starts one request; the future resolves when the scheduler answers. `outputs` empty: all.
  virtual std::future<StatusOr<std::vector<Tensor>>> RunAsync(const std::string& model,
                                                              std::vector<Tensor> inputs,
                                                              std::vector<std::string> outputs = {}) = 0;
  StatusOr<std::vector<Tensor>> Run(const std::string& model, std::vector<Tensor> inputs,
                                    std::vector<std::string> outputs = {}) {
    return RunAsync(model, std::move(inputs), std::move(outputs)).get();
  }
};

// One catalog entry: `<catalog>/<slug>/catalog.json` (schema_version 1).
struct CatalogEntry {
  std::string name;  // e.g. "@cf/paddle/pp-ocrv4"; unique; used in /ai/run/{name}
  std::string task;  // the task kind, e.g. "ocr"
  std::string description;
  std::string license;
  std::string source;                         // where the weights come from
  std::map<std::string, std::string> models;  // role -> repository model name ("det" -> "ppocr_det")
  std::string settings_json;                  // task-specific settings (raw JSON object) or "{}"
  std::filesystem::path dir;                  // the entry's folder (assets: vocab, labels, keys)

  // settings_json, or "{}" when the entry has none.
  std::string_view SettingsJson() const {
    return settings_json.empty() ? std::string_view("{}") : std::string_view(settings_json);
  }

  // The real path of the asset file that settings.<setting> names (labels, keys, tokenizer): a
  // regular file whose real path is inside `dir`, however it is reached (no absolute path, no
  // "..", no symlink leaving the folder, no FIFO or device; see ResolveInside). Errors name the
  // setting: kInvalidArgument "settings.labels: must name a file inside the entry folder (...)",
  // kNotFound when the file does not exist.
  StatusOr<std::filesystem::path> Asset(std::string_view setting, std::string_view file) const {
    auto real = ResolveInside(dir, file);
    if (real.ok()) return real;
    const std::string field = "settings." + std::string(setting);
    if (real.status().code() == StatusCode::kNotFound) return real.status().WithContext(field);
    return InvalidArgument(field + ": must name a file inside the entry folder (" + real.status().message() +
                           ")");
  }
};

struct TaskLimits {
  int64_t max_image_pixels = 40'000'000;  // decoded width × height
  int64_t max_image_bytes = 32 << 20;     // encoded image (raw body, base64 or byte array)
  int64_t max_audio_bytes = 64 << 20;     // encoded audio file
  double max_audio_seconds = 600;
  int64_t max_texts = 100;
  int64_t max_text_bytes = 64 << 10;
};

class Task {
 public:
  virtual ~Task() = default;
  virtual StatusOr<TaskResult> Run(const TaskRequest& request, ModelRunner& runner) const = 0;
  // JSON Schemas of the request and of "result", for GET /ai/models.
  virtual std::string InputSchema() const = 0;
  virtual std::string OutputSchema() const = 0;
};

// The request schema of a task that takes an image: the image as the body, or as "image" (bytes
// or base64) beside `options`, the task's own properties as JSON members ("top_k":{...}).
inline std::string ImageRequestSchema(std::string_view options = {}) {
  return R"J({"oneOf":[{"type":"string","format":"binary","description":"The image (PNG or JPEG) as the request body"},)J"
         R"J({"type":"object","properties":{"image":{"oneOf":[)J"
         R"J({"type":"array","description":"The image file's bytes (PNG or JPEG)","items":{"type":"number","minimum":0,"maximum":255}},)J"
         R"J({"type":"string","description":"The image file, base64-encoded (a data: URL is accepted)"}]})J" +
         (options.empty() ? std::string() : "," + std::string(options)) + R"J(},"required":["image"]}]})J";
}

}  // namespace continuum::tasks
