// What the agent sees of the local serve: readiness of each watched model's installed package
// and its request counters (/metrics), and the report built from them (agent.h).
#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <system_error>

#include "common/log.h"
#include "fleet/agent/agent.h"
#include "packages/provenance.h"

namespace continuum::fleet {

namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxVersions = 64;  // version folders of one package asked about

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// The numeric version folders of REPO/<model> (the installed package's), ascending.
std::vector<int64_t> PackageVersions(const fs::path& folder) {
  std::vector<int64_t> out;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    int64_t v = 0;
    auto [p, e] = std::from_chars(name.data(), name.data() + name.size(), v);
    if (e == std::errc() && p == name.data() + name.size() && v > 0 && it->is_directory(ec)) out.push_back(v);
    if (out.size() >= kMaxVersions) break;
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

StatusOr<http::Response> Agent::GetFromServe(const std::string& target) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(options_.serve_timeout_ms);
  if (options_.serve_handler) {
    http::Request req;
    req.method = "GET";
    req.path = target;  // the agent's targets need no percent-encoding and have no query
    req.remote = "agent";
    return http::CallHandler(options_.serve_handler, std::move(req), deadline);
  }
  http::ClientRequest req;
  req.method = "GET";
  req.target = target;
  ASSIGN_OR_RETURN(http::ClientResponse r,
                   http::SendAndWait(*serve_client_, options_.serve_url, std::move(req), deadline));
  http::Response out;
  out.status = r.status;
  out.body = std::move(r.body);
  return out;
}

std::vector<std::string> Agent::WatchedModels() const {
  std::vector<std::string> out;
  if (current_) {
    for (const Target& t : current_->targets) out.push_back(t.model);
  } else {
    for (const InstalledModel& m : state_.installed) out.push_back(m.model);
  }
  return out;
}

void Agent::Observe() {
  std::map<std::string, ModelCounters> metrics;
  if (HasServe()) {
    auto r = GetFromServe("/metrics");
    Status st = !r.ok()            ? r.status()
                : r->status != 200 ? Unavailable("GET /metrics answered " + std::to_string(r->status))
                                   : Status::Ok();
    if (st.ok()) {
      auto parsed = ParseServeMetrics(r->body, options_.scrape);
      if (parsed.ok()) metrics = std::move(*parsed);
      st = parsed.status();
    }
    if (!st.ok() && !serve_down_)
      LogWarning("agent: serve" + (options_.serve_handler ? std::string() : " at " + options_.serve_url) +
                 ": " + st.message());
    serve_down_ = !st.ok();
  }
  const int64_t now_ms = NowMs();
  observed_.clear();
  for (const std::string& model : WatchedModels()) observed_[model] = ObserveModel(model, metrics, now_ms);
}

std::string Agent::ServedDigest(const std::string& model) {
  auto r = GetFromServe("/v2/models/" + model + "/config");
  if (!r.ok() || r->status != 200) return "";
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  std::string_view digest;
  if (parser.parse(r->body).get(doc) != simdjson::SUCCESS ||
      doc.at_pointer("/package/digest").get_string().get(digest) != simdjson::SUCCESS)
    return "";
  return std::string(digest);
}

ModelReport Agent::ObserveModel(const std::string& model, const std::map<std::string, ModelCounters>& metrics,
                                int64_t now_ms) {
  ModelReport m;
  m.name = model;
  ModelWatch& w = watch_[model];
  m.error = w.error;
  auto record = packages::ReadInstallRecord(options_.repository, model);
  if (record.ok()) m.digest = record->digest;
  if (auto it = metrics.find(model); it != metrics.end()) {
    m.success = it->second.success;
    m.failure = it->second.failure;
    m.duration_buckets = it->second.duration_buckets;
  }
  if (!record.ok() || !HasServe() || serve_down_) return m;
  const std::vector<int64_t> versions = PackageVersions(options_.repository / model);
  for (int64_t v : versions) {
    auto r = GetFromServe("/v2/models/" + model + "/versions/" + std::to_string(v) + "/ready");
    if (r.ok() && r->status == 200) m.versions.push_back(v);
  }
  // serve may still answer for the package this one replaced until its next repository scan, or
  // for good when the new package failed to load: ready only once serve says (its /config's
  // "package") that what it serves was loaded from this package.
  const bool settled = w.installed_at == Clock::time_point{} ||
                       Clock::now() >= w.installed_at + std::chrono::seconds(options_.serve_poll_secs);
  m.ready = settled && !versions.empty() && !m.versions.empty() && m.versions.back() == versions.back() &&
            ServedDigest(model) == m.digest;
  InstalledModel* owned = nullptr;
  for (InstalledModel& i : state_.installed)
    if (i.model == model && i.digest == m.digest) owned = &i;
  if (m.ready && w.since_digest != m.digest) {
    w.since_digest = m.digest;
    w.since_ms = owned != nullptr && owned->since_ms > 0 ? owned->since_ms : now_ms;
    if (owned != nullptr && owned->since_ms == 0) {
      owned->since_ms = w.since_ms;
      SaveState();
    }
  }
  if (w.since_digest == m.digest) {
    m.since_ms = w.since_ms;
  } else if (owned != nullptr) {
    m.since_ms = owned->since_ms;
  }
  return m;
}

NodeReport Agent::BuildReport() const {
  NodeReport r;
  r.address = options_.address;
  r.properties_json = options_.properties_json;
  r.sequence = state_.highest_sequence;
  size_t errors = 0;
  std::string first_error;
  for (const auto& [name, m] : observed_) {
    r.models.push_back(m);
    if (!m.error.empty() && errors++ == 0) first_error = name + ": " + m.error;
  }
  if (applying_now_) {
    r.state = "applying";
  } else if (!refusal_.empty()) {
    r.state = refusal_expired_ ? "expired" : "error";
    r.message = refusal_;
  } else if (current_ && current_->expires_ms + options_.expiry_grace_ms <= NowMs()) {
    r.state = "expired";
    r.message = "desired state " + std::to_string(current_->sequence) + " expired at " +
                FormatTimeMs(current_->expires_ms) + "; serving what is installed";
  } else if (errors > 0) {
    r.state = "error";
    r.message = std::to_string(errors) + " model(s) failed; " + first_error;
  }
  return r;
}

}  // namespace continuum::fleet
