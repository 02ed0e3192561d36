#include "repository/model_config.h"

#include <simdjson.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "common/json_writer.h"

namespace continuum {
namespace {

using simdjson::dom::element;
using simdjson::dom::object;

Status FieldError(std::string_view field, std::string_view what) {
  return InvalidArgument("config.json: " + std::string(field) + ": " + std::string(what));
}

StatusOr<int64_t> GetInt(element e, std::string_view field, int64_t min, int64_t max) {
  int64_t v;
  if (e.get_int64().get(v) != simdjson::SUCCESS) return FieldError(field, "expected an integer");
  if (v < min || v > max) {
    return FieldError(field, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                                 ", got " + std::to_string(v));
  }
  return v;
}

StatusOr<std::vector<int64_t>> GetIntArray(element e, std::string_view field, int64_t min, int64_t max) {
  simdjson::dom::array a;
  if (e.get_array().get(a) != simdjson::SUCCESS) return FieldError(field, "expected an array");
  std::vector<int64_t> out;
  size_t i = 0;
  for (element x : a) {
    ASSIGN_OR_RETURN(int64_t v, GetInt(x, std::string(field) + "[" + std::to_string(i++) + "]", min, max));
    out.push_back(v);
  }
  return out;
}

StatusOr<std::string> GetString(element e, std::string_view field) {
  std::string_view s;
  if (e.get_string().get(s) != simdjson::SUCCESS) return FieldError(field, "expected a string");
  return std::string(s);
}

StatusOr<object> GetObject(element e, std::string_view field) {
  object o;
  if (e.get_object().get(o) != simdjson::SUCCESS) return FieldError(field, "expected an object");
  return o;
}

Status CheckKeys(object o, std::string_view where, std::initializer_list<std::string_view> known) {
  for (auto [k, v] : o) {
    bool found = false;
    for (auto n : known) found = found || n == k;
    if (!found) {
      std::string list;
      for (auto n : known) list += (list.empty() ? "" : ", ") + std::string(n);
      return FieldError(std::string(where) + (where.empty() ? "" : ".") + std::string(k),
                        "unknown field (known: " + list + ")");
    }
  }
  return Status::Ok();
}

Status ParseDynamicBatching(object o, DynamicBatchingConfig* d) {
  RETURN_IF_ERROR(
      CheckKeys(o, "dynamic_batching",
                {"preferred_batch_size", "max_queue_delay_microseconds", "max_adaptive_delay_microseconds"}));
  element e;
  if (o["preferred_batch_size"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(d->preferred_batch_size,
                     GetIntArray(e, "dynamic_batching.preferred_batch_size", 1, 1 << 20));
  }
  if (o["max_queue_delay_microseconds"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(d->max_queue_delay_microseconds,
                     GetInt(e, "dynamic_batching.max_queue_delay_microseconds", 0, 10'000'000));
  }
  if (o["max_adaptive_delay_microseconds"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(d->max_adaptive_delay_microseconds,
                     GetInt(e, "dynamic_batching.max_adaptive_delay_microseconds", 0, 10'000'000));
  }
  return Status::Ok();
}

Status ParseVersionPolicy(object o, VersionPolicy* p) {
  RETURN_IF_ERROR(CheckKeys(o, "version_policy", {"latest", "all", "specific"}));
  if (o.size() != 1) return FieldError("version_policy", "give exactly one of latest, all, specific");
  element e;
  if (o["latest"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(object l, GetObject(e, "version_policy.latest"));
    RETURN_IF_ERROR(CheckKeys(l, "version_policy.latest", {"num_versions"}));
    p->kind = VersionPolicy::Kind::kLatest;
    element n;
    if (l["num_versions"].get(n) == simdjson::SUCCESS) {
      ASSIGN_OR_RETURN(p->num_versions, GetInt(n, "version_policy.latest.num_versions", 1, 1000));
    }
  } else if (o["all"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(object a, GetObject(e, "version_policy.all"));
    RETURN_IF_ERROR(CheckKeys(a, "version_policy.all", {}));
    p->kind = VersionPolicy::Kind::kAll;
  } else if (o["specific"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(object s, GetObject(e, "version_policy.specific"));
    RETURN_IF_ERROR(CheckKeys(s, "version_policy.specific", {"versions"}));
    p->kind = VersionPolicy::Kind::kSpecific;
    element v;
    if (s["versions"].get(v) != simdjson::SUCCESS) {
      return FieldError("version_policy.specific.versions", "required");
    }
    ASSIGN_OR_RETURN(p->versions, GetIntArray(v, "version_policy.specific.versions", 1, INT64_MAX));
    if (p->versions.empty()) return FieldError("version_policy.specific.versions", "must not be empty");
  }
  return Status::Ok();
}

Status ParseLimits(object o, ModelLimits* l) {
  RETURN_IF_ERROR(
      CheckKeys(o, "limits",
                {"max_queue_size", "max_queue_bytes", "max_tensor_elements", "queue_timeout_microseconds"}));
  element e;
  if (o["max_queue_size"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(l->max_queue_size, GetInt(e, "limits.max_queue_size", 1, 1 << 24));
  }
  if (o["max_queue_bytes"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(l->max_queue_bytes, GetInt(e, "limits.max_queue_bytes", 1, INT64_C(1) << 40));
  }
  if (o["max_tensor_elements"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(l->max_tensor_elements, GetInt(e, "limits.max_tensor_elements", 1, INT64_C(1) << 40));
  }
  if (o["queue_timeout_microseconds"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(l->queue_timeout_microseconds,
                     GetInt(e, "limits.queue_timeout_microseconds", 0, INT64_C(3600'000'000)));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<ModelConfig> ParseModelConfig(std::string_view json, std::string_view model_name) {
  ModelConfig c;
  c.name = std::string(model_name);
  simdjson::dom::parser parser;
  if (parser.allocate(json.size() + 64, 32) != simdjson::SUCCESS)
    return Internal("config.json: out of memory");
  element root;
  if (auto err = parser.parse(json.data(), json.size()).get(root); err != simdjson::SUCCESS) {
    return InvalidArgument(std::string("config.json: invalid JSON: ") + simdjson::error_message(err));
  }
  ASSIGN_OR_RETURN(object o, GetObject(root, "(top level)"));
  RETURN_IF_ERROR(CheckKeys(o, "",
                            {"schema_version", "name", "max_batch_size", "dynamic_batching", "instance_count",
                             "version_policy", "execution_providers", "labels", "limits", "warmup"}));
  element e;
  if (o["schema_version"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(int64_t v, GetInt(e, "schema_version", 1, 1000));
    if (v != ModelConfig::kSchemaVersion) {
      return FieldError("schema_version", "version " + std::to_string(v) +
                                              " is not supported (this build reads " +
                                              std::to_string(ModelConfig::kSchemaVersion) + ")");
    }
  }
  if (o["name"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(std::string n, GetString(e, "name"));
    if (n != model_name) {
      return FieldError("name",
                        "'" + n + "' does not match the model folder '" + std::string(model_name) + "'");
    }
  }
  if (o["max_batch_size"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(c.max_batch_size, GetInt(e, "max_batch_size", 0, 1 << 20));
  }
  if (o["dynamic_batching"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(object d, GetObject(e, "dynamic_batching"));
    c.dynamic_batching.emplace();
    RETURN_IF_ERROR(ParseDynamicBatching(d, &*c.dynamic_batching));
  }
  if (o["instance_count"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(c.instance_count, GetInt(e, "instance_count", 1, 64));
  }
  if (o["version_policy"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(object p, GetObject(e, "version_policy"));
    RETURN_IF_ERROR(ParseVersionPolicy(p, &c.version_policy));
  }
  if (o["execution_providers"].get(e) == simdjson::SUCCESS) {
    simdjson::dom::array a;
    if (e.get_array().get(a) != simdjson::SUCCESS)
      return FieldError("execution_providers", "expected an array");
    c.execution_providers.clear();
    size_t i = 0;
    for (element x : a) {
      std::string field = "execution_providers[" + std::to_string(i++) + "]";
      ASSIGN_OR_RETURN(std::string ep, GetString(x, field));
      if (ep != "cpu" && ep != "cuda")
        return FieldError(field, "unknown provider '" + ep + "' (known: cuda, cpu)");
      c.execution_providers.push_back(ep);
    }
    if (c.execution_providers.empty()) return FieldError("execution_providers", "must not be empty");
  }
  if (o["labels"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(object l, GetObject(e, "labels"));
    for (auto [k, v] : l) {
      ASSIGN_OR_RETURN(c.labels[std::string(k)], GetString(v, "labels." + std::string(k)));
    }
  }
  if (o["limits"].get(e) == simdjson::SUCCESS) {
    ASSIGN_OR_RETURN(object l, GetObject(e, "limits"));
    RETURN_IF_ERROR(ParseLimits(l, &c.limits));
  }
  if (o["warmup"].get(e) == simdjson::SUCCESS) {
    bool b;
    if (e.get_bool().get(b) != simdjson::SUCCESS) return FieldError("warmup", "expected true or false");
    c.warmup = b;
  }
  if (c.dynamic_batching && c.max_batch_size && *c.max_batch_size > 0) {
    size_t i = 0;
    for (int64_t p : c.dynamic_batching->preferred_batch_size) {
      if (p > *c.max_batch_size) {
        return FieldError("dynamic_batching.preferred_batch_size[" + std::to_string(i) + "]",
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
