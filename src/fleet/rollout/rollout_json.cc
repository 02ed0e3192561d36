// The JSON forms of a rollout strategy (in a deployment) and of a rollout (as the store keeps it).
#include <limits>
#include <set>

#include "common/enum_names.h"
#include "fleet/rollout/rollout.h"

namespace continuum::fleet {
namespace {

constexpr int64_t kMaxMs = int64_t{30} * 24 * 3600 * 1000;  // 30 days
constexpr int64_t kMaxEpochMs = int64_t{1} << 53;

constexpr EnumName<RolloutPhase> kPhaseNames[] = {{RolloutPhase::kProgressing, "progressing"},
                                                  {RolloutPhase::kSucceeded, "succeeded"},
                                                  {RolloutPhase::kRolledBack, "rolled_back"}};
constexpr EnumName<BatchState> kBatchStateNames[] = {{BatchState::kPending, "pending"},
                                                     {BatchState::kInProgress, "in_progress"},
                                                     {BatchState::kSucceeded, "succeeded"},
                                                     {BatchState::kFailed, "failed"}};

// A bounded string field.
StatusOr<std::string> BoundedString(const config::Reader& r, config::Element e, const std::string& field,
                                    bool nonempty, const RolloutLimits& limits) {
  ASSIGN_OR_RETURN(std::string s, r.String(e, field, nonempty));
  if (s.size() > limits.max_string_bytes) {
    return r.Err(field, "is " + std::to_string(s.size()) + " bytes, more than the limit of " +
                            std::to_string(limits.max_string_bytes));
  }
  return s;
}

StatusOr<std::vector<std::string>> NodeList(const config::Reader& r, config::Element e,
                                            const std::string& field, const RolloutLimits& limits,
                                            std::set<std::string>* seen) {
  ASSIGN_OR_RETURN(config::Array a, r.Array(e, field));
  std::vector<std::string> out;
  size_t i = 0;
  for (config::Element item : a) {
    std::string where = config::Index(field, i++);
    ASSIGN_OR_RETURN(std::string node, BoundedString(r, item, where, true, limits));
    if (seen != nullptr) {
      if (!seen->insert(node).second) return r.Err(where, Quoted(node) + " is in more than one batch");
      if (seen->size() > limits.max_nodes) {
        return r.Err(where, "more than the limit of " + std::to_string(limits.max_nodes) + " nodes");
      }
    } else if (out.size() >= limits.max_nodes) {
      return r.Err(where, "more than the limit of " + std::to_string(limits.max_nodes) + " nodes");
    }
    out.push_back(std::move(node));
  }
  return out;
}

StatusOr<int64_t> RequiredMs(const config::Reader& r, config::Object o, const std::string& where,
                             std::string_view key) {
  ASSIGN_OR_RETURN(config::Element v, r.Required(o, where, key));
  return r.Int(v, config::Key(where, key), 0, kMaxEpochMs);
}

StatusOr<std::string> RequiredString(const config::Reader& r, config::Object o, const std::string& where,
                                     std::string_view key, bool nonempty, const RolloutLimits& limits) {
  ASSIGN_OR_RETURN(config::Element v, r.Required(o, where, key));
  return BoundedString(r, v, config::Key(where, key), nonempty, limits);
}

StatusOr<Batch> ParseBatch(const config::Reader& r, config::Element e, const std::string& where,
                           const RolloutLimits& limits, std::set<std::string>* seen) {
  ASSIGN_OR_RETURN(config::Object o, r.Object(e, where));
  RETURN_IF_ERROR(r.CheckKeys(o, where,
                              {"ended_ms", "healthy_since_ms", "last_failure_ms", "nodes", "reason",
                               "stale_since_ms", "started_ms", "state"}));
  Batch b;
  ASSIGN_OR_RETURN(config::Element nodes, r.Required(o, where, "nodes"));
  ASSIGN_OR_RETURN(b.nodes, NodeList(r, nodes, config::Key(where, "nodes"), limits, seen));
  ASSIGN_OR_RETURN(std::string state, RequiredString(r, o, where, "state", true, limits));
  std::optional<BatchState> s = ValueOf(kBatchStateNames, state);
  if (!s)
    return r.Err(config::Key(where, "state"),
                 "unknown " + Quoted(state) + " (known: " + NameList(kBatchStateNames) + ")");
  b.state = *s;
  ASSIGN_OR_RETURN(b.started_ms, RequiredMs(r, o, where, "started_ms"));
  ASSIGN_OR_RETURN(b.healthy_since_ms, RequiredMs(r, o, where, "healthy_since_ms"));
  ASSIGN_OR_RETURN(b.ended_ms, RequiredMs(r, o, where, "ended_ms"));
  ASSIGN_OR_RETURN(b.last_failure_ms, RequiredMs(r, o, where, "last_failure_ms"));
  ASSIGN_OR_RETURN(b.reason, RequiredString(r, o, where, "reason", false, limits));
  std::string stale_field = config::Key(where, "stale_since_ms");
  ASSIGN_OR_RETURN(config::Element stale, r.Required(o, where, "stale_since_ms"));
  ASSIGN_OR_RETURN(config::Object stale_object, r.Object(stale, stale_field));
  for (auto [key, value] : stale_object) {
    std::string field = config::Key(stale_field, key);
    if (key.empty() || key.size() > limits.max_string_bytes) return r.Err(field, "is not a node name");
    ASSIGN_OR_RETURN(int64_t ms, r.Int(value, field, 0, kMaxEpochMs));
    if (!b.stale_since_ms.emplace(std::string(key), ms).second) return r.Err(field, "is listed twice");
    if (b.stale_since_ms.size() > limits.max_nodes) return r.Err(field, "more nodes than the limit");
  }
  return b;
}

Status ParseBatches(const config::Reader& r, config::Object o, const RolloutLimits& limits, Rollout* out) {
  ASSIGN_OR_RETURN(config::Element v, r.Required(o, "", "batches"));
  ASSIGN_OR_RETURN(config::Array a, r.Array(v, "batches"));
  std::set<std::string> seen;
  size_t i = 0, in_progress = 0;
  for (config::Element item : a) {
    std::string where = config::Index("batches", i++);
    ASSIGN_OR_RETURN(Batch b, ParseBatch(r, item, where, limits, &seen));
    if (b.state == BatchState::kInProgress && ++in_progress > 1) {
      return r.Err(config::Key(where, "state"), "a second batch in progress");
    }
    out->batches.push_back(std::move(b));
  }
  return Status::Ok();
}

Status ParseRolloutFields(const config::Reader& r, config::Object o, const RolloutLimits& limits,
                          Rollout* out) {
  ASSIGN_OR_RETURN(config::Element version, r.Required(o, "", "schema_version"));
  RETURN_IF_ERROR(r.Int(version, "schema_version", 1, 1).status());
  ASSIGN_OR_RETURN(out->deployment, RequiredString(r, o, "", "deployment", true, limits));
  ASSIGN_OR_RETURN(config::Element generation, r.Required(o, "", "generation"));
  ASSIGN_OR_RETURN(out->generation, r.Int(generation, "generation", 0, kMaxEpochMs));
  ASSIGN_OR_RETURN(out->from_package, RequiredString(r, o, "", "from_package", false, limits));
  ASSIGN_OR_RETURN(out->from_digest, RequiredString(r, o, "", "from_digest", false, limits));
  ASSIGN_OR_RETURN(out->to_package, RequiredString(r, o, "", "to_package", true, limits));
  ASSIGN_OR_RETURN(out->to_digest, RequiredString(r, o, "", "to_digest", true, limits));
  if (out->from_package.empty() != out->from_digest.empty()) {
    return r.Err("from_digest", "from_package and from_digest are both given or both empty");
  }
  ASSIGN_OR_RETURN(std::string phase, RequiredString(r, o, "", "phase", true, limits));
  std::optional<RolloutPhase> p = ValueOf(kPhaseNames, phase);
  if (!p) return r.Err("phase", "unknown " + Quoted(phase) + " (known: " + NameList(kPhaseNames) + ")");
  out->phase = *p;
  RETURN_IF_ERROR(ParseBatches(r, o, limits, out));
  ASSIGN_OR_RETURN(config::Element failed, r.Required(o, "", "failed_nodes"));
  ASSIGN_OR_RETURN(out->failed_nodes, NodeList(r, failed, "failed_nodes", limits, nullptr));
  ASSIGN_OR_RETURN(out->started_ms, RequiredMs(r, o, "", "started_ms"));
  ASSIGN_OR_RETURN(out->updated_ms, RequiredMs(r, o, "", "updated_ms"));
  ASSIGN_OR_RETURN(out->reason, RequiredString(r, o, "", "reason", false, limits));
  ASSIGN_OR_RETURN(config::Element error_rate, r.Required(o, "", "baseline_error_rate"));
  ASSIGN_OR_RETURN(out->baseline_error_rate, r.Double(error_rate, "baseline_error_rate", -1, 1));
  ASSIGN_OR_RETURN(config::Element p95, r.Required(o, "", "baseline_p95_ms"));
  ASSIGN_OR_RETURN(out->baseline_p95_ms,
                   r.Double(p95, "baseline_p95_ms", -1, std::numeric_limits<double>::infinity()));
  return Status::Ok();
}

void WriteBatch(JsonWriter& w, const Batch& b) {
  w.BeginObject().Key("nodes").BeginArray();
  for (const std::string& n : b.nodes) w.String(n);
  w.EndArray();
  w.Key("state").String(BatchStateName(b.state));
  w.Key("started_ms").Int(b.started_ms).Key("healthy_since_ms").Int(b.healthy_since_ms);
  w.Key("ended_ms").Int(b.ended_ms).Key("reason").String(b.reason);
  w.Key("last_failure_ms").Int(b.last_failure_ms).Key("stale_since_ms").BeginObject();
  for (const auto& [node, ms] : b.stale_since_ms) w.Key(node).Int(ms);
  w.EndObject().EndObject();
}

}  // namespace

std::string_view RolloutPhaseName(RolloutPhase p) { return NameOf(kPhaseNames, p); }
std::string_view BatchStateName(BatchState s) { return NameOf(kBatchStateNames, s); }

StatusOr<RolloutStrategy> ParseRolloutStrategy(const config::Reader& r, config::Element e,
                                               std::string_view where) {
  std::string w(where);
  ASSIGN_OR_RETURN(config::Object o, r.Object(e, w));
  RETURN_IF_ERROR(
      r.CheckKeys(o, w,
                  {"batch_size", "batch_percent", "min_success_ms", "max_failures", "health_timeout_ms",
                   "max_error_rate_increase", "max_p95_increase", "min_requests"}));
  RolloutStrategy s;
  auto int_field = [&](std::string_view key, int64_t min, int64_t max, int64_t* out) -> Status {
    if (auto v = config::Find(o, key)) {
      ASSIGN_OR_RETURN(*out, r.Int(*v, config::Key(w, key), min, max));
    }
    return Status::Ok();
  };
  auto double_field = [&](std::string_view key, double min, double max, double* out) -> Status {
    if (auto v = config::Find(o, key)) {
      ASSIGN_OR_RETURN(*out, r.Double(*v, config::Key(w, key), min, max));
    }
    return Status::Ok();
  };
  RETURN_IF_ERROR(int_field("batch_size", 1, 1000000, &s.batch_size));
  RETURN_IF_ERROR(int_field("batch_percent", 0, 100, &s.batch_percent));
  RETURN_IF_ERROR(int_field("min_success_ms", 0, kMaxMs, &s.min_success_ms));
  RETURN_IF_ERROR(int_field("max_failures", 0, 1000000, &s.max_failures));
  RETURN_IF_ERROR(int_field("health_timeout_ms", 1, kMaxMs, &s.health_timeout_ms));
  RETURN_IF_ERROR(double_field("max_error_rate_increase", 0, 1, &s.max_error_rate_increase));
  RETURN_IF_ERROR(double_field("max_p95_increase", 0, 1000000, &s.max_p95_increase));
  RETURN_IF_ERROR(int_field("min_requests", 1, int64_t{1000000000000}, &s.min_requests));
  return s;
}

void WriteRolloutStrategy(JsonWriter& w, const RolloutStrategy& s) {
  w.BeginObject();
  w.Key("batch_size").Int(s.batch_size).Key("batch_percent").Int(s.batch_percent);
  w.Key("min_success_ms").Int(s.min_success_ms).Key("max_failures").Int(s.max_failures);
  w.Key("health_timeout_ms").Int(s.health_timeout_ms);
  w.Key("max_error_rate_increase").Double(s.max_error_rate_increase);
  w.Key("max_p95_increase").Double(s.max_p95_increase).Key("min_requests").Int(s.min_requests);
  w.EndObject();
}

std::string RolloutToJson(const Rollout& r) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("schema_version").Int(1).Key("deployment").String(r.deployment);
  w.Key("generation").Int(r.generation);
  w.Key("from_package").String(r.from_package).Key("from_digest").String(r.from_digest);
  w.Key("to_package").String(r.to_package).Key("to_digest").String(r.to_digest);
  w.Key("phase").String(RolloutPhaseName(r.phase)).Key("batches").BeginArray();
  for (const Batch& b : r.batches) WriteBatch(w, b);
  w.EndArray().Key("failed_nodes").BeginArray();
  for (const std::string& n : r.failed_nodes) w.String(n);
  w.EndArray();
  w.Key("started_ms").Int(r.started_ms).Key("updated_ms").Int(r.updated_ms).Key("reason").String(r.reason);
  w.Key("baseline_error_rate").Double(r.baseline_error_rate).Key("baseline_p95_ms").Double(r.baseline_p95_ms);
  w.EndObject();
  return out;
}

StatusOr<Rollout> ParseRollout(std::string_view json) { return ParseRollout(json, RolloutLimits{}); }

StatusOr<Rollout> ParseRollout(std::string_view json, const RolloutLimits& limits) {
  config::Reader r("rollout: ");
  if (json.size() > limits.max_json_bytes) {
    return PayloadTooLarge(r.Err("", "the document is " + std::to_string(json.size()) +
                                         " bytes, more than the limit of " +
                                         std::to_string(limits.max_json_bytes))
                               .message());
  }
  ASSIGN_OR_RETURN(
      config::Object o,
      r.ParseObject(json, {"schema_version", "deployment", "generation", "from_package", "from_digest",
                           "to_package", "to_digest", "phase", "batches", "failed_nodes", "started_ms",
                           "updated_ms", "reason", "baseline_error_rate", "baseline_p95_ms"}));
  Rollout out;
  RETURN_IF_ERROR(ParseRolloutFields(r, o, limits, &out));
  return out;
}

}  // namespace continuum::fleet
