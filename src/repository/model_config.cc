#include "repository/model_config.h"

#include <filesystem>
#include <fstream>
#include <set>

#include "common/config_reader.h"
#include "common/json_writer.h"

namespace continuum {
namespace {

using config::Find;
using config::Index;
using config::Reader;
using element = config::Element;
using object = config::Object;

// The deepest nesting a config.json may hold (the schema itself needs 4 levels).
constexpr size_t kMaxConfigDepth = 32;

StatusOr<std::vector<int64_t>> IntArray(const Reader& r, element e, const std::string& field, int64_t min,
                                        int64_t max) {
  ASSIGN_OR_RETURN(auto a, r.Array(e, field));
  std::vector<int64_t> out;
  for (element x : a) {
    ASSIGN_OR_RETURN(int64_t v, r.Int(x, Index(field, out.size()), min, max));
    out.push_back(v);
  }
  return out;
}

Status ParseDynamicBatching(const Reader& r, object o, DynamicBatchingConfig* d) {
  RETURN_IF_ERROR(r.CheckKeys(
      o, "dynamic_batching",
      {"preferred_batch_size", "max_queue_delay_microseconds", "max_adaptive_delay_microseconds"}));
  if (auto e = Find(o, "preferred_batch_size")) {
    ASSIGN_OR_RETURN(d->preferred_batch_size,
                     IntArray(r, *e, "dynamic_batching.preferred_batch_size", 1, 1 << 20));
  }
  if (auto e = Find(o, "max_queue_delay_microseconds")) {
    ASSIGN_OR_RETURN(d->max_queue_delay_microseconds,
                     r.Int(*e, "dynamic_batching.max_queue_delay_microseconds", 0, 10'000'000));
  }
  if (auto e = Find(o, "max_adaptive_delay_microseconds")) {
    ASSIGN_OR_RETURN(d->max_adaptive_delay_microseconds,
                     r.Int(*e, "dynamic_batching.max_adaptive_delay_microseconds", 0, 10'000'000));
  }
  return Status::Ok();
}

Status ParseVersionPolicy(const Reader& r, object o, VersionPolicy* p) {
  RETURN_IF_ERROR(r.CheckKeys(o, "version_policy", {"latest", "all", "specific"}));
  if (o.size() != 1) return r.Err("version_policy", "give exactly one of latest, all, specific");
  if (auto e = Find(o, "latest")) {
    ASSIGN_OR_RETURN(object l, r.Object(*e, "version_policy.latest"));
    RETURN_IF_ERROR(r.CheckKeys(l, "version_policy.latest", {"num_versions"}));
    p->kind = VersionPolicy::Kind::kLatest;
    if (auto n = Find(l, "num_versions")) {
      ASSIGN_OR_RETURN(p->num_versions, r.Int(*n, "version_policy.latest.num_versions", 1, 1000));
    }
  } else if (auto e = Find(o, "all")) {
    ASSIGN_OR_RETURN(object a, r.Object(*e, "version_policy.all"));
    RETURN_IF_ERROR(r.CheckKeys(a, "version_policy.all", {}));
    p->kind = VersionPolicy::Kind::kAll;
  } else if (auto e = Find(o, "specific")) {
    ASSIGN_OR_RETURN(object s, r.Object(*e, "version_policy.specific"));
    RETURN_IF_ERROR(r.CheckKeys(s, "version_policy.specific", {"versions"}));
    p->kind = VersionPolicy::Kind::kSpecific;
    ASSIGN_OR_RETURN(element v, r.Required(s, "version_policy.specific", "versions"));
    ASSIGN_OR_RETURN(p->versions, IntArray(r, v, "version_policy.specific.versions", 1, INT64_MAX));
    if (p->versions.empty()) return r.Err("version_policy.specific.versions", "must not be empty");
  }
  return Status::Ok();
}

Status ParseLimits(const Reader& r, object o, ModelLimits* l) {
  RETURN_IF_ERROR(r.CheckKeys(
      o, "limits",
      {"max_queue_size", "max_queue_bytes", "max_tensor_elements", "queue_timeout_microseconds"}));
  if (auto e = Find(o, "max_queue_size")) {
    ASSIGN_OR_RETURN(l->max_queue_size, r.Int(*e, "limits.max_queue_size", 1, 1 << 24));
  }
  if (auto e = Find(o, "max_queue_bytes")) {
    ASSIGN_OR_RETURN(l->max_queue_bytes, r.Int(*e, "limits.max_queue_bytes", 1, INT64_C(1) << 40));
  }
  if (auto e = Find(o, "max_tensor_elements")) {
    ASSIGN_OR_RETURN(l->max_tensor_elements, r.Int(*e, "limits.max_tensor_elements", 1, INT64_C(1) << 40));
  }
  if (auto e = Find(o, "queue_timeout_microseconds")) {
    ASSIGN_OR_RETURN(l->queue_timeout_microseconds,
                     r.Int(*e, "limits.queue_timeout_microseconds", 0, INT64_C(3600'000'000)));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<ModelConfig> ParseModelConfig(std::string_view json, std::string_view model_name) {
  ModelConfig c;
  c.name = std::string(model_name);
  Reader r("config.json: ", {.not_json = "invalid JSON", .top_level = "(top level)"}, kMaxConfigDepth);
  ASSIGN_OR_RETURN(object o, r.ParseObject(json, {"schema_version", "name", "max_batch_size",
                                                  "dynamic_batching", "instance_count", "version_policy",
                                                  "execution_providers", "labels", "limits", "warmup"}));
  if (auto e = Find(o, "schema_version")) {
    ASSIGN_OR_RETURN(int64_t v, r.Int(*e, "schema_version", 1, 1000));
    if (v != ModelConfig::kSchemaVersion) {
      return r.Err("schema_version", "version " + std::to_string(v) + " is not supported (this build reads " +
                                         std::to_string(ModelConfig::kSchemaVersion) + ")");
    }
  }
  if (auto e = Find(o, "name")) {
    ASSIGN_OR_RETURN(std::string n, r.String(*e, "name"));
    if (n != model_name) {
      return r.Err("name", "'" + n + "' does not match the model folder '" + std::string(model_name) + "'");
    }
  }
  if (auto e = Find(o, "max_batch_size")) {
    ASSIGN_OR_RETURN(c.max_batch_size, r.Int(*e, "max_batch_size", 0, 1 << 20));
  }
  if (auto e = Find(o, "dynamic_batching")) {
    ASSIGN_OR_RETURN(object d, r.Object(*e, "dynamic_batching"));
    c.dynamic_batching.emplace();
    RETURN_IF_ERROR(ParseDynamicBatching(r, d, &*c.dynamic_batching));
  }
  if (auto e = Find(o, "instance_count")) {
    ASSIGN_OR_RETURN(c.instance_count, r.Int(*e, "instance_count", 1, 64));
  }
  if (auto e = Find(o, "version_policy")) {
    ASSIGN_OR_RETURN(object p, r.Object(*e, "version_policy"));
    RETURN_IF_ERROR(ParseVersionPolicy(r, p, &c.version_policy));
  }
  if (auto e = Find(o, "execution_providers")) {
    ASSIGN_OR_RETURN(auto a, r.Array(*e, "execution_providers"));
    c.execution_providers.clear();
    for (element x : a) {
      const std::string field = Index("execution_providers", c.execution_providers.size());
      ASSIGN_OR_RETURN(std::string ep, r.String(x, field));
      if (ep != "cpu" && ep != "cuda")
        return r.Err(field, "unknown provider '" + ep + "' (known: cuda, cpu)");
      c.execution_providers.push_back(ep);
    }
    if (c.execution_providers.empty()) return r.Err("execution_providers", "must not be empty");
  }
  if (auto e = Find(o, "labels")) {
    ASSIGN_OR_RETURN(object l, r.Object(*e, "labels"));
    for (auto [k, v] : l) {
      ASSIGN_OR_RETURN(c.labels[std::string(k)], r.String(v, config::Key("labels", k)));
    }
  }
  if (auto e = Find(o, "limits")) {
    ASSIGN_OR_RETURN(object l, r.Object(*e, "limits"));
    RETURN_IF_ERROR(ParseLimits(r, l, &c.limits));
  }
  if (auto e = Find(o, "warmup")) {
    ASSIGN_OR_RETURN(c.warmup, r.Bool(*e, "warmup"));
  }
  if (c.dynamic_batching && c.max_batch_size && *c.max_batch_size > 0) {
    size_t i = 0;
    for (int64_t p : c.dynamic_batching->preferred_batch_size) {
      if (p > *c.max_batch_size) {
        return r.Err(Index("dynamic_batching.preferred_batch_size", i),
                     std::to_string(p) + " exceeds max_batch_size " + std::to_string(*c.max_batch_size));
      }
      ++i;
    }
  }
  return c;
}

StatusOr<ModelConfig> LoadModelConfig(const std::string& model_dir, std::string_view model_name) {
  namespace fs = std::filesystem;
  fs::path p = fs::path(model_dir) / "config.json";
  std::error_code ec;
  if (!fs::exists(p, ec)) {
    ModelConfig c;
    c.name = std::string(model_name);
    return c;
  }
  if (fs::file_size(p, ec) > (1u << 20)) return InvalidArgument("config.json: larger than 1 MiB");
  std::ifstream in(p, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto c = ParseModelConfig(text, model_name);
  if (!c.ok()) return c.status().WithContext("model '" + std::string(model_name) + "'");
  return c;
}

Status AutoComplete(const runtime::ModelSignature& sig, ModelConfig* c) {
  bool batchable = !sig.inputs.empty();
  for (const auto* list : {&sig.inputs, &sig.outputs}) {
    for (const auto& t : *list) {
      if (t.shape.empty() || t.shape[0] != -1) batchable = false;
    }
  }
  if (!c->max_batch_size) {
    c->max_batch_size = batchable ? c->default_batch_size_when_auto : 0;
    if (batchable && !c->dynamic_batching) c->dynamic_batching.emplace();
  } else if (*c->max_batch_size > 0 && !batchable) {
    return InvalidArgument("config.json: max_batch_size: " + std::to_string(*c->max_batch_size) +
                           " needs a dynamic first dimension on every input and output of the graph");
  }
  if (*c->max_batch_size == 0 && c->dynamic_batching) {
    return InvalidArgument("config.json: dynamic_batching: needs max_batch_size > 0");
  }
  if (c->dynamic_batching && c->dynamic_batching->max_queue_delay_microseconds &&
      c->limits.queue_timeout_microseconds > 0 &&
      c->limits.queue_timeout_microseconds <= *c->dynamic_batching->max_queue_delay_microseconds) {
    return InvalidArgument("config.json: limits.queue_timeout_microseconds (" +
                           std::to_string(c->limits.queue_timeout_microseconds) +
                           ") must exceed dynamic_batching.max_queue_delay_microseconds (" +
                           std::to_string(*c->dynamic_batching->max_queue_delay_microseconds) +
                           "), or a lone request would time out while the batcher waits for company");
  }
  if (c->dynamic_batching) {
    for (int64_t p : c->dynamic_batching->preferred_batch_size) {
      if (p > *c->max_batch_size) {
        return InvalidArgument("config.json: dynamic_batching.preferred_batch_size: " + std::to_string(p) +
                               " exceeds max_batch_size " + std::to_string(*c->max_batch_size));
      }
    }
  }
  return Status::Ok();
}

std::string ModelConfigToJson(const ModelConfig& c) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("schema_version").Int(c.schema_version).Key("name").String(c.name);
  // Unset (a config not completed from a graph yet) stays unset, so the output parses back to
  // the same config; a loaded model's config always has it.
  if (c.max_batch_size) w.Key("max_batch_size").Int(*c.max_batch_size);
  if (c.dynamic_batching) {
    w.Key("dynamic_batching").BeginObject().Key("preferred_batch_size").BeginArray();
    for (int64_t p : c.dynamic_batching->preferred_batch_size) w.Int(p);
    w.EndArray();
    // Absent: adaptive.
    if (c.dynamic_batching->max_queue_delay_microseconds)
      w.Key("max_queue_delay_microseconds").Int(*c.dynamic_batching->max_queue_delay_microseconds);
    w.Key("max_adaptive_delay_microseconds").Int(c.dynamic_batching->max_adaptive_delay_microseconds);
    w.EndObject();
  }
  w.Key("instance_count").Int(c.instance_count);
  w.Key("version_policy").BeginObject();
  switch (c.version_policy.kind) {
    case VersionPolicy::Kind::kLatest:
      w.Key("latest").BeginObject().Key("num_versions").Int(c.version_policy.num_versions).EndObject();
      break;
    case VersionPolicy::Kind::kAll: w.Key("all").BeginObject().EndObject(); break;
    case VersionPolicy::Kind::kSpecific:
      w.Key("specific").BeginObject().Key("versions").BeginArray();
      for (int64_t v : c.version_policy.versions) w.Int(v);
      w.EndArray().EndObject();
      break;
  }
  w.EndObject();
  w.Key("execution_providers").BeginArray();
  for (const auto& ep : c.execution_providers) w.String(ep);
  w.EndArray();
  w.Key("labels").BeginObject();
  for (const auto& [k, v] : c.labels) w.Key(k).String(v);
  w.EndObject();
  w.Key("limits").BeginObject().Key("max_queue_size").Int(c.limits.max_queue_size);
  w.Key("max_queue_bytes").Int(c.limits.max_queue_bytes);
  w.Key("max_tensor_elements").Int(c.limits.max_tensor_elements);
  w.Key("queue_timeout_microseconds").Int(c.limits.queue_timeout_microseconds).EndObject();
  w.Key("warmup").Bool(c.warmup).EndObject();
  return out;
}

}  // namespace continuum
