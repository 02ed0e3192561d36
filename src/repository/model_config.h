// The per-model configuration file, `<repository>/<model>/config.json`.
// One documented, versioned format (schema_version 1) that later becomes the model package
// manifest. Field names follow Triton's model configuration (in its JSON form) where Triton has
// the same concept, so users can carry their habits over. Every field is optional: a model folder
// with only `1/model.onnx` serves with values derived from its graph (see AutoComplete).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "runtime/runtime.h"
#include "scheduler/batching_config.h"  // DynamicBatchingConfig, the "dynamic_batching" field

namespace continuum {

struct VersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  int64_t num_versions = 1;       // kLatest
  std::vector<int64_t> versions;  // kSpecific
};

struct ModelLimits {
  int64_t max_queue_size = 256;         // pending requests per version; beyond this: 503
  int64_t max_queue_bytes = 256 << 20;  // input tensor bytes pending per version; beyond this: 503
  int64_t max_tensor_elements = 1 << 26;
  int64_t queue_timeout_microseconds = 0;  // 0: none; else a request waiting longer fails (503)
};

struct ModelConfig {
  static constexpr int kSchemaVersion = 1;
  int schema_version = kSchemaVersion;
  std::string name;
  // Largest batch the scheduler forms along dimension 0; 0 means the model is not batchable
  // (dimension 0 is an ordinary dimension). Unset: derived from the graph.
  std::optional<int64_t> max_batch_size;
  std::optional<DynamicBatchingConfig> dynamic_batching;  // absent: requests run one by one
  int64_t instance_count = 1;
  VersionPolicy version_policy;
  std::vector<std::string> execution_providers = {"cpu"};
  std::map<std::string, std::string> labels;
  ModelLimits limits;
  bool warmup = true;                        // run one zero-filled request per version at load
  int64_t default_batch_size_when_auto = 8;  // not read from the file; used by AutoComplete
};

// Parses config.json text. Errors name the offending field ("dynamic_batching.preferred_batch_size[1]").
StatusOr<ModelConfig> ParseModelConfig(std::string_view json, std::string_view model_name);
// Reads `<model_dir>/config.json` if it exists, or returns the defaults.
StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir, std::string_view model_name);

// Fills what the file left unset from the graph, as Triton's auto-complete does: a model is
// batchable when every input and output has a dynamic first dimension; it then gets
// max_batch_size = default and dynamic batching with default settings. Checks the rest for
// consistency with the graph (a model with fixed first dimensions cannot batch).
Status AutoComplete(const runtime::ModelSignature& sig, ModelConfig* config);

// The config as JSON (for GET /v2/models/{m}/config).
std::string ModelConfigToJson(const ModelConfig& config);

}  // namespace continuum
