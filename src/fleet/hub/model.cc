// The hub's documents: node reports, the node record, deployments; the per-model metric history.
#include <algorithm>
#include <cmath>
#include <string>
#include <utility>

#include "common/config_reader.h"
#include "fleet/hub/internal.h"

namespace continuum::fleet::hub {
namespace {

constexpr int64_t kMaxMs = int64_t{1} << 52;
constexpr size_t kMaxBuckets = 64;
constexpr int64_t kMaxVersions = 1024;

bool NameChar(char c, bool first) {
  bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  return alnum || (!first && (c == '.' || c == '_' || c == '-'));
}

StatusOr<Buckets> ParseBuckets(const config::Reader& r, config::Element e, const std::string& where) {
  ASSIGN_OR_RETURN(config::Array arr, r.Array(e, where));
  Buckets out;
  size_t i = 0;
  for (config::Element item : arr) {
    std::string at = config::Index(where, i++);
    if (out.size() >= kMaxBuckets)
      return r.Err(where, "more than " + std::to_string(kMaxBuckets) + " buckets");
    ASSIGN_OR_RETURN(config::Array pair, r.Array(item, at));
    std::vector<config::Element> parts(pair.begin(), pair.end());
    if (parts.size() != 2) return r.Err(at, "expected [upper_bound, cumulative_count]");
    config::Element le = parts[0], count = parts[1];
    double bound = 0;
    if (le.is_string()) {
      if (std::string_view(le.get_string().value_unsafe()) != "+Inf")
        return r.Err(at, "upper bound must be a number or \"+Inf\"");
      bound = INFINITY;
    } else {
      ASSIGN_OR_RETURN(bound, r.Double(le, config::Index(at, 0), -1e300, 1e300));
    }
    ASSIGN_OR_RETURN(double c, r.Double(count, config::Index(at, 1), 0, 1e18));
    if (!out.empty() && (bound <= out.back().first || c < out.back().second))
      return r.Err(at, "bounds must ascend and counts must not decrease");
    out.emplace_back(bound, c);
  }
  if (!out.empty() && !std::isinf(out.back().first)) return r.Err(where, "the last bucket must be \"+Inf\"");
  return out;
}

void WriteBuckets(JsonWriter& w, const Buckets& b) {
  w.BeginArray();
  for (const auto& [le, c] : b) {
    w.BeginArray();
    if (std::isinf(le))
      w.String("+Inf");
    else
      w.Double(le);
    w.Double(c).EndArray();
  }
  w.EndArray();
}

StatusOr<ModelReport> ParseModelReport(const config::Reader& r, config::Element e, const std::string& at) {
  ASSIGN_OR_RETURN(config::Object o, r.Object(e, at));
  RETURN_IF_ERROR(r.CheckKeys(o, at,
                              {"name", "digest", "versions", "ready", "error", "since_ms", "success",
                               "failure", "duration_buckets"}));
  ModelReport m;
  ASSIGN_OR_RETURN(auto name, r.Required(o, at, "name"));
  ASSIGN_OR_RETURN(m.name, r.String(name, config::Key(at, "name"), true));
  if (m.name.size() > 256) return r.Err(config::Key(at, "name"), "longer than 256 bytes");
  if (auto v = config::Find(o, "digest")) {
    ASSIGN_OR_RETURN(m.digest, r.String(*v, config::Key(at, "digest")));
    if (!m.digest.empty() && (m.digest.size() != 71 || m.digest.rfind("sha256:", 0) != 0))
      return r.Err(config::Key(at, "digest"), "expected sha256:<64 hex digits>");
  }
  if (auto v = config::Find(o, "versions")) {
    std::string where = config::Key(at, "versions");
    ASSIGN_OR_RETURN(config::Array arr, r.Array(*v, where));
    size_t i = 0;
    for (config::Element x : arr) {
      if (static_cast<int64_t>(m.versions.size()) >= kMaxVersions) return r.Err(where, "too many versions");
      ASSIGN_OR_RETURN(int64_t ver, r.Int(x, config::Index(where, i++), 1, kMaxMs));
      m.versions.push_back(ver);
    }
  }
  if (auto v = config::Find(o, "ready")) {
    ASSIGN_OR_RETURN(m.ready, r.Bool(*v, config::Key(at, "ready")));
  }
  if (auto v = config::Find(o, "error")) {
    ASSIGN_OR_RETURN(m.error, r.String(*v, config::Key(at, "error")));
  }
  if (m.error.size() > 4096) m.error.resize(4096);
  if (auto v = config::Find(o, "since_ms")) {
    ASSIGN_OR_RETURN(m.since_ms, r.Int(*v, config::Key(at, "since_ms"), 0, kMaxMs));
  }
  if (auto v = config::Find(o, "success")) {
    ASSIGN_OR_RETURN(m.success, r.Double(*v, config::Key(at, "success"), 0, 1e18));
  }
  if (auto v = config::Find(o, "failure")) {
    ASSIGN_OR_RETURN(m.failure, r.Double(*v, config::Key(at, "failure"), 0, 1e18));
  }
  if (auto v = config::Find(o, "duration_buckets")) {
    ASSIGN_OR_RETURN(m.buckets, ParseBuckets(r, *v, config::Key(at, "duration_buckets")));
  }
  return m;
}

StatusOr<NodeReport> ParseReportObject(const config::Reader& r, config::Object o, const std::string& at,
                                       int64_t max_models) {
  RETURN_IF_ERROR(r.CheckKeys(
      o, at, {"schema_version", "address", "properties", "sequence", "state", "message", "models"}));
  NodeReport rep;
  ASSIGN_OR_RETURN(auto sv, r.Required(o, at, "schema_version"));
  RETURN_IF_ERROR(r.Int(sv, config::Key(at, "schema_version"), 1, 1).status());
  if (auto v = config::Find(o, "address")) {
    ASSIGN_OR_RETURN(rep.address, r.String(*v, config::Key(at, "address")));
    if (!rep.address.empty() && !HostPortOf(rep.address))
      return r.Err(config::Key(at, "address"), "expected an http:// or https:// URL");
  }
  if (auto v = config::Find(o, "properties")) {
    ASSIGN_OR_RETURN(rep.properties, ParseProperties(r, *v, config::Key(at, "properties")));
  }
  if (auto v = config::Find(o, "sequence")) {
    ASSIGN_OR_RETURN(rep.sequence, r.Int(*v, config::Key(at, "sequence"), 0, kMaxMs));
  }
  if (auto v = config::Find(o, "state")) {
    ASSIGN_OR_RETURN(rep.state, r.String(*v, config::Key(at, "state")));
    if (rep.state != "ok" && rep.state != "applying" && rep.state != "expired" && rep.state != "error")
      return r.Err(config::Key(at, "state"), "must be ok, applying, expired or error");
  }
  if (auto v = config::Find(o, "message")) {
    ASSIGN_OR_RETURN(rep.message, r.String(*v, config::Key(at, "message")));
  }
  if (rep.message.size() > 4096) rep.message.resize(4096);
  if (auto v = config::Find(o, "models")) {
    std::string where = config::Key(at, "models");
    ASSIGN_OR_RETURN(config::Array arr, r.Array(*v, where));
    if (static_cast<int64_t>(arr.size()) > max_models)
      return r.Err(where, "more than " + std::to_string(max_models) + " models");
    size_t i = 0;
    for (config::Element m : arr) {
      ASSIGN_OR_RETURN(ModelReport mr, ParseModelReport(r, m, config::Index(where, i++)));
      for (const auto& seen : rep.models)
        if (seen.name == mr.name)
          return r.Err(config::Index(where, i - 1), "model " + mr.name + " listed twice");
      rep.models.push_back(std::move(mr));
    }
  }
  return rep;
}

std::string Sanitized(std::string_view s) { return std::string(s.substr(0, 4096)); }

}  // namespace

bool ValidName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (!NameChar(name[i], i == 0)) return false;
  return true;
}

StatusOr<NodeReport> ParseNodeReport(std::string_view json, int64_t max_models) {
  config::Reader r("report: ", 16);
  config::Object o;
  RETURN_IF_ERROR(r.Parse(json, &o));
  return ParseReportObject(r, o, "", max_models);
}

void WriteNodeReport(JsonWriter& w, const NodeReport& rep) {
  w.BeginObject().Key("schema_version").Int(1).Key("address").String(rep.address).Key("properties");
  WriteProperties(w, rep.properties);
  w.Key("sequence")
      .Int(rep.sequence)
      .Key("state")
      .String(rep.state)
      .Key("message")
      .String(Sanitized(rep.message));
  w.Key("models").BeginArray();
  for (const auto& m : rep.models) {
    w.BeginObject().Key("name").String(m.name).Key("digest").String(m.digest).Key("versions").BeginArray();
    for (int64_t v : m.versions) w.Int(v);
    w.EndArray().Key("ready").Bool(m.ready).Key("error").String(m.error).Key("since_ms").Int(m.since_ms);
    w.Key("success").Double(m.success).Key("failure").Double(m.failure).Key("duration_buckets");
    WriteBuckets(w, m.buckets);
    w.EndObject();
  }
  w.EndArray().EndObject();
}

const ModelReport* NodeState::Model(std::string_view model) const {
  for (const auto& m : report.models)
    if (m.name == model) return &m;
  return nullptr;
}

std::string NodeDocJson(const NodeState& n) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("name").String(n.name).Key("registered_ms").Int(n.registered_ms);
  w.Key("last_report_ms").Int(n.last_report_ms).Key("last_seen_ms").Int(n.last_seen_ms);
  w.Key("operator_properties");
  WriteProperties(w, n.operator_properties);
  w.Key("report");
  WriteNodeReport(w, n.report);
  w.EndObject();
  return out;
}

StatusOr<NodeState> ParseNodeDoc(std::string_view json, int64_t max_models) {
  config::Reader r("node: ", 16);
  ASSIGN_OR_RETURN(config::Object o, r.ParseObject(json, {"name", "registered_ms", "last_report_ms",
                                                          "last_seen_ms", "operator_properties", "report"}));
  NodeState n;
  ASSIGN_OR_RETURN(auto name, r.Required(o, "", "name"));
  ASSIGN_OR_RETURN(n.name, r.String(name, "name", true));
  if (auto v = config::Find(o, "registered_ms")) {
    ASSIGN_OR_RETURN(n.registered_ms, r.Int(*v, "registered_ms", 0, kMaxMs));
  }
  if (auto v = config::Find(o, "last_report_ms")) {
    ASSIGN_OR_RETURN(n.last_report_ms, r.Int(*v, "last_report_ms", 0, kMaxMs));
  }
  if (auto v = config::Find(o, "last_seen_ms")) {
    ASSIGN_OR_RETURN(n.last_seen_ms, r.Int(*v, "last_seen_ms", 0, kMaxMs));
  }
  if (auto v = config::Find(o, "operator_properties")) {
    ASSIGN_OR_RETURN(n.operator_properties, ParseProperties(r, *v, "operator_properties"));
  }
  if (auto v = config::Find(o, "report")) {
    ASSIGN_OR_RETURN(config::Object ro, r.Object(*v, "report"));
    ASSIGN_OR_RETURN(n.report, ParseReportObject(r, ro, "report", max_models));
  }
  return n;
}

void RecordSample(NodeState& n, const ModelReport& m, int64_t at_ms, size_t max_samples) {
  auto& h = n.history[m.name];
  if (!h.empty() && h.back().digest == m.digest && h.back().success == m.success &&
      h.back().failure == m.failure)
    return;
  h.push_back(Sample{at_ms, m.digest, m.success, m.failure, m.buckets});
  while (h.size() > max_samples) h.pop_front();
}

ModelObservation Observe(const NodeState& n, std::string_view model, int64_t since_ms, bool fresh) {
  ModelObservation o;
  o.fresh = fresh;
  const ModelReport* m = n.Model(model);
  if (m == nullptr) return o;
  o.digest = m->digest;
  o.ready = m->ready;
  o.error = m->error;
  o.ready_since_ms = m->since_ms;
  auto it = n.history.find(std::string(model));
  if (it == n.history.end() || it->second.empty()) return o;
  const auto& h = it->second;
  const Sample& last = h.back();
  if (last.digest != m->digest) return o;
  // The newest sample at or before the window's start, of the same digest; else the oldest of it.
  const Sample* base = nullptr;
  for (const Sample& s : h) {
    if (s.digest != m->digest) continue;
    if (base == nullptr || s.at_ms <= since_ms) base = &s;
    if (s.at_ms > since_ms) break;
  }
  if (base == nullptr || base == &last) {
    // One sample only: everything it counted happened with this digest, within the window if it is recent.
    if (base != nullptr && last.at_ms >= since_ms && m->since_ms >= since_ms) {
      o.success = last.success;
      o.failure = last.failure;
      o.buckets = last.buckets;
    }
    return o;
  }
  bool reset = last.success < base->success || last.failure < base->failure;
  o.success = reset ? last.success : last.success - base->success;
  o.failure = reset ? last.failure : last.failure - base->failure;
  o.buckets = reset ? last.buckets : SubtractBuckets(last.buckets, base->buckets);
  return o;
}

StatusOr<PackageRef> ParsePackageRef(std::string_view ref) {
  PackageRef p;
  size_t at = ref.find('@');
  std::string_view repo = ref;
  if (at != std::string_view::npos) {
    p.digest = std::string(ref.substr(at + 1));
    repo = ref.substr(0, at);
    if (p.digest.size() != 71 || p.digest.rfind("sha256:", 0) != 0 ||
        p.digest.find_first_not_of("0123456789abcdef", 7) != std::string::npos)
      return InvalidArgument("package: " + std::string(ref) +
                             ": the digest must be sha256:<64 lower-case hex>");
  } else {
    size_t slash = ref.rfind('/');
    size_t colon = ref.rfind(':');
    if (colon == std::string_view::npos || (slash != std::string_view::npos && colon < slash))
      return InvalidArgument("package: " + std::string(ref) +
                             ": name a tag (host/repo:tag) or a digest (host/repo@sha256:...)");
    p.tag = std::string(ref.substr(colon + 1));
    repo = ref.substr(0, colon);
    if (p.tag.empty() || p.tag.size() > 128)
      return InvalidArgument("package: " + std::string(ref) + ": bad tag");
  }
  if (repo.find('/') == std::string_view::npos || repo.front() == '/' || repo.back() == '/')
    return InvalidArgument("package: " + std::string(ref) + ": expected host[:port]/repository");
  for (char c : repo)
    if (!(NameChar(c, false) || c == '/' || c == ':'))
      return InvalidArgument("package: " + std::string(ref) + ": character '" + std::string(1, c) +
                             "' in the repository");
  p.repository = std::string(repo);
  return p;
}

StatusOr<Deployment> ParseDeploymentSpec(std::string_view json, std::string name, bool allow_unnamed) {
  config::Reader r("deployment: ", 16);
  ASSIGN_OR_RETURN(config::Object o,
                   r.ParseObject(json, {"package", "model", "constraint", "residency", "min_replicas",
                                        "max_replicas", "rollout", "name"}));
  Deployment d;
  d.name = std::move(name);
  if (auto v = config::Find(o, "name")) {
    ASSIGN_OR_RETURN(std::string n, r.String(*v, "name", true));
    if (d.name.empty()) d.name = n;
    if (n != d.name) return r.Err("name", "is " + n + " but the path names " + d.name);
  }
  if (d.name.empty() && allow_unnamed) d.name = "unnamed";
  if (!ValidName(d.name)) return r.Err("name", "must match [A-Za-z0-9][A-Za-z0-9._-]{0,62}");
  ASSIGN_OR_RETURN(auto pkg, r.Required(o, "", "package"));
  ASSIGN_OR_RETURN(d.package, r.String(pkg, "package", true));
  auto ref = ParsePackageRef(d.package);
  if (!ref.ok()) return r.Err("package", std::string(ref.status().message()).substr(9));
  d.repository = ref->repository;
  d.digest = ref->digest;
  d.model = d.repository.substr(d.repository.rfind('/') + 1);
  if (auto v = config::Find(o, "model")) {
    ASSIGN_OR_RETURN(d.model, r.String(*v, "model", true));
  }
  if (auto v = config::Find(o, "constraint")) {
    ASSIGN_OR_RETURN(d.constraint, r.String(*v, "constraint"));
  }
  auto c = Constraint::Parse(d.constraint);
  if (!c.ok()) return r.Err("constraint", c.status().message());
  if (auto v = config::Find(o, "residency")) {
    ASSIGN_OR_RETURN(d.residency, r.String(*v, "residency"));
  }
  if (auto v = config::Find(o, "min_replicas")) {
    ASSIGN_OR_RETURN(d.min_replicas, r.Int(*v, "min_replicas", 0, 1000000));
  }
  if (auto v = config::Find(o, "max_replicas")) {
    ASSIGN_OR_RETURN(d.max_replicas, r.Int(*v, "max_replicas", 1, 1000000));
  }
  if (d.max_replicas < d.min_replicas) return r.Err("max_replicas", "is below min_replicas");
  if (auto v = config::Find(o, "rollout")) {
    ASSIGN_OR_RETURN(d.rollout, ParseRolloutStrategy(r, *v, "rollout"));
  }
  return d;
}

void WriteDeployment(JsonWriter& w, const Deployment& d) {
  w.BeginObject()
      .Key("name")
      .String(d.name)
      .Key("package")
      .String(d.package)
      .Key("repository")
      .String(d.repository);
  w.Key("digest").String(d.digest).Key("model").String(d.model).Key("constraint").String(d.constraint);
  w.Key("residency")
      .String(d.residency)
      .Key("min_replicas")
      .Int(d.min_replicas)
      .Key("max_replicas")
      .Int(d.max_replicas);
  w.Key("rollout");
  WriteRolloutStrategy(w, d.rollout);
  w.Key("generation")
      .Int(d.generation)
      .Key("created_ms")
      .Int(d.created_ms)
      .Key("updated_ms")
      .Int(d.updated_ms);
  w.Key("stable_package").String(d.stable_package).Key("stable_digest").String(d.stable_digest);
  w.EndObject();
}

std::string DeploymentDocJson(const Deployment& d) {
  std::string out;
  JsonWriter w(&out);
  WriteDeployment(w, d);
  return out;
}

StatusOr<Deployment> ParseDeploymentDoc(std::string_view json) {
  config::Reader r("stored deployment: ", 16);
  ASSIGN_OR_RETURN(config::Object o,
                   r.ParseObject(json, {"name", "package", "repository", "digest", "model", "constraint",
                                        "residency", "min_replicas", "max_replicas", "rollout", "generation",
                                        "created_ms", "updated_ms", "stable_package", "stable_digest"}));
  Deployment d;
  auto str = [&](std::string_view key, std::string* out) -> Status {
    ASSIGN_OR_RETURN(auto v, r.Required(o, "", key));
    ASSIGN_OR_RETURN(*out, r.String(v, key));
    return Status();
  };
  auto num = [&](std::string_view key, int64_t* out) -> Status {
    ASSIGN_OR_RETURN(auto v, r.Required(o, "", key));
    ASSIGN_OR_RETURN(*out, r.Int(v, key, 0, kMaxMs));
    return Status();
  };
  RETURN_IF_ERROR(str("name", &d.name));
  RETURN_IF_ERROR(str("package", &d.package));
  RETURN_IF_ERROR(str("repository", &d.repository));
  RETURN_IF_ERROR(str("digest", &d.digest));
  RETURN_IF_ERROR(str("model", &d.model));
  RETURN_IF_ERROR(str("constraint", &d.constraint));
  RETURN_IF_ERROR(str("residency", &d.residency));
  RETURN_IF_ERROR(str("stable_package", &d.stable_package));
  RETURN_IF_ERROR(str("stable_digest", &d.stable_digest));
  RETURN_IF_ERROR(num("min_replicas", &d.min_replicas));
  RETURN_IF_ERROR(num("max_replicas", &d.max_replicas));
  RETURN_IF_ERROR(num("generation", &d.generation));
  RETURN_IF_ERROR(num("created_ms", &d.created_ms));
  RETURN_IF_ERROR(num("updated_ms", &d.updated_ms));
  ASSIGN_OR_RETURN(auto ro, r.Required(o, "", "rollout"));
  ASSIGN_OR_RETURN(d.rollout, ParseRolloutStrategy(r, ro, "rollout"));
  return d;
}

}  // namespace continuum::fleet::hub
