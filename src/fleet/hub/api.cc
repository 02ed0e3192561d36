// The hub's HTTP API (fleet/README.md): agents' reports and desired-state long polls, the
// operators' deployments and node properties, and the read-only views.
#include <algorithm>
#include <charconv>
#include <cmath>

#include "common/json_writer.h"
#include "fleet/hub/dashboard_page.h"
#include "fleet/hub/hub_impl.h"

namespace continuum::fleet {
namespace {

http::Response Json(int status, std::string body) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

http::Response Error(int status, std::string_view message) {
  std::string body;
  JsonWriter w(&body);
  w.BeginObject().Key("error").String(message).EndObject();
  return Json(status, std::move(body));
}

int StatusFor(const Status& st) {
  switch (st.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kFailedPrecondition: return 400;
    case StatusCode::kNotFound: return 404;
    case StatusCode::kAlreadyExists: return 409;
    case StatusCode::kPayloadTooLarge: return 413;
    case StatusCode::kResourceExhausted: return 429;
    case StatusCode::kUnavailable: return 503;
    case StatusCode::kDeadlineExceeded: return 504;
    default: return std::string(st.message()).find("conflict") != std::string::npos ? 409 : 500;
  }
}

std::vector<std::string_view> Split(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) parts.push_back(path.substr(i, j - i));
    i = j + 1;
  }
  return parts;
}

// The integer query parameter `key` (default `def`), or nullopt when present but not an integer in range.
std::optional<int64_t> QueryInt(std::string_view query, std::string_view key, int64_t def, int64_t min,
                                int64_t max) {
  size_t i = 0;
  while (i <= query.size()) {
    size_t j = query.find('&', i);
    if (j == std::string_view::npos) j = query.size();
    std::string_view kv = query.substr(i, j - i);
    size_t eq = kv.find('=');
    if (kv.substr(0, eq) == key) {
      if (eq == std::string_view::npos) return std::nullopt;
      std::string_view v = kv.substr(eq + 1);
      int64_t out = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
      if (ec != std::errc() || p != v.data() + v.size() || out < min || out > max) return std::nullopt;
      return out;
    }
    i = j + 1;
  }
  return def;
}

std::string QueryString(std::string_view query, std::string_view key) {
  size_t i = 0;
  while (i <= query.size()) {
    size_t j = query.find('&', i);
    if (j == std::string_view::npos) j = query.size();
    std::string_view kv = query.substr(i, j - i);
    size_t eq = kv.find('=');
    if (eq != std::string_view::npos && kv.substr(0, eq) == key) return std::string(kv.substr(eq + 1));
    i = j + 1;
  }
  return "";
}

bool Authorized(const http::Request& req, const std::string& token) {
  if (token.empty()) return true;
  const std::string* h = req.Header("authorization");
  if (h == nullptr || h->size() != token.size() + 7 || h->compare(0, 7, "Bearer ") != 0) return false;
  // Constant time in the token's length.
  unsigned char diff = 0;
  for (size_t i = 0; i < token.size(); ++i) diff |= static_cast<unsigned char>((*h)[i + 7] ^ token[i]);
  return diff == 0;
}

void WriteRollout(JsonWriter& w, const Rollout& r) { w.Raw(RolloutToJson(r)); }

}  // namespace

void Hub::Impl::Handle(http::Request&& req, http::Responder respond) {
  auto parts = Split(req.path);
  const bool get = req.method == "GET", put = req.method == "PUT", post = req.method == "POST",
             del = req.method == "DELETE";
  if (get && (req.path == "/" || req.path == "/index.html")) {
    http::Response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = std::string(hub::DashboardPage());
    return respond(std::move(r));
  }
  if (get && req.path == "/metrics") {
    http::Response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = registry.Render();
    return respond(std::move(r));
  }
  if (get && req.path == "/health") return respond(Json(200, "{\"status\":\"ok\"}"));
  if (parts.size() < 3 || parts[0] != "api" || parts[1] != "v1")
    return respond(Error(404, "no such route: " + req.path));
  std::string_view what = parts[2];
  int64_t now = Now();

  // Agents.
  if (what == "nodes" && parts.size() == 5 && (parts[4] == "report" || parts[4] == "desired-state"))
    return HandleAgent(std::move(req), std::move(respond), parts, now);

  // Everything else: reads need the read token (or the admin token), writes the admin token.
  bool write = put || post || del;
  if (write ? !Authorized(req, opt.admin_token)
            : !(Authorized(req, opt.read_token) ||
                (!opt.admin_token.empty() && Authorized(req, opt.admin_token))))
    return respond(Error(401, write ? "operator token required (Authorization: Bearer)"
                                    : "read token required (Authorization: Bearer)"));

  if (what == "deployments" || what == "plan")
    return HandleDeployments(std::move(req), std::move(respond), parts, now);

  if (HandleViews(req, respond, parts, now)) return;
  respond(Error(write ? 405 : 404, "no such route: " + req.method + " " + req.path));
}

// The agents' two calls: a report, and the desired-state long poll.
void Hub::Impl::HandleAgent(http::Request&& req, http::Responder respond,
                            const std::vector<std::string_view>& parts, int64_t now) {
  const bool get = req.method == "GET", post = req.method == "POST";
  if (!Authorized(req, opt.agent_token)) {
    reports_refused->Increment();
    return respond(Error(401, "agent token required (Authorization: Bearer)"));
  }
  std::string node(parts[3]);
  if (!hub::ValidName(node))
    return respond(Error(400, "node name must match [A-Za-z0-9][A-Za-z0-9._-]{0,62}"));
  if (opt.agent_cert_identity &&
      (!req.tls || !req.tls->client_verified || req.tls->client_common_name != node)) {
    reports_refused->Increment();
    return respond(
        Error(403, !req.tls || !req.tls->client_verified
                       ? "node " + node + ": a verified client certificate with CN=" + node + " is required"
                       : "node " + node + ": the client certificate is CN=" + req.tls->client_common_name +
                             ", not CN=" + node));
  }
  control_bytes_in += static_cast<int64_t>(req.body.size());
  if (parts[4] == "report") {
    if (!post) return respond(Error(405, "report is POST"));
    if (static_cast<int64_t>(req.body.size()) > opt.max_report_bytes)
      return respond(Error(413, "report larger than " + std::to_string(opt.max_report_bytes) + " bytes"));
    auto rep = hub::ParseNodeReport(req.body, opt.max_models_per_node);
    if (!rep.ok()) {
      reports_refused->Increment();
      return respond(Error(400, rep.status().message()));
    }
    MutexLock lock(mu);
    auto it = nodes.find(node);
    bool registered = it == nodes.end();
    if (registered) {
      if (static_cast<int64_t>(nodes.size()) >= opt.max_nodes)
        return respond(Error(503, "the hub holds --max-nodes " + std::to_string(opt.max_nodes) + " nodes"));
      it = nodes.emplace(node, hub::NodeState{}).first;
      it->second.name = node;
      it->second.registered_ms = now;
    }
    hub::NodeState& n = it->second;
    hub::NodeReport old = std::move(n.report);
    n.report = std::move(*rep);
    // When a model became ready at its digest is the hub's clock's, not the node's: a node whose
    // clock runs behind would otherwise shorten its own batch's soak time.
    for (auto& m : n.report.models) {
      const hub::ModelReport* before = nullptr;
      for (const auto& o : old.models)
        if (o.name == m.name) before = &o;
      const bool same =
          before != nullptr && before->ready && before->digest == m.digest && before->since_ms > 0;
      m.since_ms = !m.ready ? 0 : same ? before->since_ms : now;
    }
    n.last_report_ms = n.last_seen_ms = now;
    for (const auto& m : n.report.models) hub::RecordSample(n, m, now, 256);
    // Structure (address, properties, models and their readiness) is written at once; counters later.
    auto structure = [](const hub::NodeReport& r) {
      hub::NodeReport s = r;
      for (auto& m : s.models) {
        m.success = m.failure = 0;
        m.buckets.clear();
      }
      return s;
    };
    bool structural = registered || structure(old) != structure(n.report);
    if (structural) {
      topology_dirty = true;
      auto st = StoreNode(n, now, false);
      if (!st.ok()) return respond(Error(503, "cannot store the report: " + st.message()));
      dirty_nodes.erase(node);
      // No wake-up of the driver here: a report (thousands a minute in a large fleet) waits for
      // the next tick; only operators' writes start one at once.
      if (registered) Event("node/" + node, "registered", "address " + n.report.address);
    } else {
      dirty_nodes.insert(node);
    }
    reports->Increment();
    std::string body = "{\"sequence\":" + std::to_string(n.sequence) + "}";
    control_bytes_out += static_cast<int64_t>(body.size());
    return respond(Json(200, std::move(body)));
  }
  if (!get) return respond(Error(405, "desired-state is GET"));
  auto after = QueryInt(req.query, "after", 0, 0, int64_t{1} << 52);
  auto wait = QueryInt(req.query, "wait_s", 0, 0, 86400);
  if (!after || !wait) return respond(Error(400, "after and wait_s must be non-negative integers"));
  MutexLock lock(mu);
  auto it = nodes.find(node);
  if (it == nodes.end()) return respond(Error(404, "unknown node " + node + ": report first"));
  it->second.last_seen_ms = now;
  if (it->second.sequence > *after && !it->second.envelope.empty()) {
    control_bytes_out += static_cast<int64_t>(it->second.envelope.size());
    return respond(Json(200, it->second.envelope));
  }
  if (*wait == 0) {
    http::Response r;
    r.status = 304;
    r.content_type.clear();
    return respond(std::move(r));
  }
  if (static_cast<int64_t>(state_waiters.size()) >= opt.max_waiters)
    return respond(Error(503, "too many long polls held (--max-waiters)"));
  state_waiters.emplace(node,
                        Waiter{*after, now + std::min(*wait, opt.max_wait_s) * 1000, std::move(respond)});
  return;
}

// GET /api/v1/topology: the fleet as a router topology; with If-None-Match and wait_s, a long poll.
void Hub::Impl::HandleTopology(const http::Request& req, http::Responder respond, int64_t now) {
  auto wait = QueryInt(req.query, "wait_s", 0, 0, 86400);
  if (!wait) return respond(Error(400, "wait_s must be a non-negative integer"));
  MutexLock lock(mu);
  RefreshTopology(now);
  const std::string* inm = req.Header("if-none-match");
  if (inm != nullptr && *inm == topology_etag) {
    if (*wait > 0 && static_cast<int64_t>(topology_waiters.size()) < opt.max_waiters) {
      topology_waiters.push_back(
          TopologyWaiter{topology_etag, now + std::min(*wait, opt.max_wait_s) * 1000, std::move(respond)});
      return;
    }
    http::Response r;
    r.status = 304;
    r.content_type.clear();
    r.headers.emplace_back("ETag", topology_etag);
    return respond(std::move(r));
  }
  http::Response r = Json(200, topology_json);
  r.headers.emplace_back("ETag", topology_etag);
  return respond(std::move(r));
}

// The read-only views and node properties; false when the route is none of them.
bool Hub::Impl::HandleViews(http::Request& req, http::Responder& respond,
                            const std::vector<std::string_view>& parts, int64_t now) {
  const bool get = req.method == "GET", put = req.method == "PUT";
  std::string_view what = parts[2];
  auto answer = [&](http::Response r) {
    respond(std::move(r));
    return true;
  };
  if (what == "nodes" && get && parts.size() <= 4) {
    MutexLock lock(mu);
    std::string body;
    JsonWriter w(&body);
    auto one = [&](const hub::NodeState& n) {
      w.BeginObject().Key("name").String(n.name).Key("fresh").Bool(Fresh(n, now));
      w.Key("registered_ms").Int(n.registered_ms).Key("last_report_ms").Int(n.last_report_ms);
      w.Key("last_seen_ms").Int(n.last_seen_ms).Key("properties");
      WriteProperties(w, n.Merged());
      w.Key("operator_properties");
      WriteProperties(w, n.operator_properties);
      w.Key("report");
      hub::WriteNodeReport(w, n.report);
      w.Key("desired").BeginObject().Key("sequence").Int(n.sequence).Key("expires_ms").Int(n.expires_ms);
      w.Key("targets").BeginArray();
      for (const auto& t : n.targets)
        w.BeginObject()
            .Key("model")
            .String(t.model)
            .Key("package")
            .String(t.package)
            .Key("digest")
            .String(t.digest)
            .Key("deployment")
            .String(t.deployment)
            .EndObject();
      w.EndArray().EndObject().EndObject();
    };
    if (parts.size() == 4) {
      auto it = nodes.find(std::string(parts[3]));
      if (it == nodes.end()) return answer(Error(404, "unknown node " + std::string(parts[3])));
      one(it->second);
    } else {
      w.BeginArray();
      for (const auto& [name, n] : nodes) one(n);
      w.EndArray();
    }
    return answer(Json(200, std::move(body)));
  }
  if (what == "nodes" && put && parts.size() == 5 && parts[4] == "properties") {
    auto props = ParsePropertiesJson(req.body);
    if (!props.ok()) return answer(Error(400, props.status().message()));
    MutexLock lock(mu);
    auto it = nodes.find(std::string(parts[3]));
    if (it == nodes.end()) return answer(Error(404, "unknown node " + std::string(parts[3])));
    it->second.operator_properties = std::move(*props);
    auto st = StoreNode(it->second, now, true);
    if (!st.ok()) return answer(Error(503, "cannot store the properties: " + st.message()));
    Event("node/" + it->first, "properties",
          "operator set " + std::to_string(it->second.operator_properties.size()) + " propert" +
              (it->second.operator_properties.size() == 1 ? "y" : "ies"));
    topology_dirty = true;
    Wake();
    return answer(Json(200, "{}"));
  }
  if (what == "rollouts" && get && parts.size() <= 4) {
    MutexLock lock(mu);
    std::string body;
    JsonWriter w(&body);
    if (parts.size() == 4) {
      auto it = rollouts.find(std::string(parts[3]));
      if (it == rollouts.end()) return answer(Error(404, "no rollout for " + std::string(parts[3])));
      WriteRollout(w, it->second.rollout);
    } else {
      w.BeginArray();
      for (const auto& [name, r] : rollouts) WriteRollout(w, r.rollout);
      w.EndArray();
    }
    return answer(Json(200, std::move(body)));
  }
  if (what == "events" && get && parts.size() == 3) {
    auto after = QueryInt(req.query, "after", 0, 0, int64_t{1} << 62);
    auto limit = QueryInt(req.query, "limit", 100, 1, opt.max_events_per_page);
    if (!after || !limit)
      return answer(
          Error(400, "after must be >= 0 and limit in 1.." + std::to_string(opt.max_events_per_page)));
    auto events = store->Events(*after, *limit, QueryString(req.query, "subject"));
    if (!events.ok()) return answer(Error(503, events.status().message()));
    std::string body;
    JsonWriter w(&body);
    w.BeginArray();
    for (const auto& e : *events)
      w.BeginObject()
          .Key("id")
          .Int(e.id)
          .Key("at_ms")
          .Int(e.at_ms)
          .Key("subject")
          .String(e.subject)
          .Key("kind")
          .String(e.kind)
          .Key("reason")
          .String(e.reason)
          .EndObject();
    w.EndArray();
    return answer(Json(200, std::move(body)));
  }
  if (what == "topology" && get && parts.size() == 3) {
    HandleTopology(req, std::move(respond), now);
    return true;
  }
  if (what == "sd" && get && parts.size() == 3) {
    MutexLock lock(mu);
    return answer(Json(200, hub::ServiceDiscoveryJson(nodes, opt.advertise_url)));
  }
  if (what == "dashboard" && get && parts.size() == 3) {
    MutexLock lock(mu);
    return answer(Json(200, DashboardJson(now)));
  }
  return false;
}

void Hub::Impl::HandleDeployments(http::Request&& req, http::Responder respond,
                                  const std::vector<std::string_view>& parts, int64_t now) {
  const bool get = req.method == "GET";
  std::string name = parts.size() >= 4 ? std::string(parts[3]) : "";
  // POST /api/v1/plan: a dry run of a deployment that need not exist.
  if (parts[2] == "plan") {
    if (req.method != "POST" || parts.size() != 3) return respond(Error(405, "plan is POST /api/v1/plan"));
    auto d = hub::ParseDeploymentSpec(req.body, "", /*allow_unnamed=*/true);
    if (!d.ok()) return respond(Error(400, d.status().message()));
    MutexLock lock(mu);
    return respond(Json(200, PlanJson(*d, now)));
  }
  if (get && parts.size() == 3) {
    MutexLock lock(mu);
    std::string body;
    JsonWriter w(&body);
    w.BeginArray();
    for (const auto& [n, d] : deployments) hub::WriteDeployment(w, d);
    w.EndArray();
    return respond(Json(200, std::move(body)));
  }
  if (parts.size() == 5 && parts[4] == "plan" && get) {
    MutexLock lock(mu);
    auto it = deployments.find(name);
    if (it == deployments.end()) return respond(Error(404, "no deployment " + name));
    return respond(Json(200, PlanJson(it->second, now)));
  }
  if (parts.size() != 4) return respond(Error(404, "no such route: " + req.path));
  if (get) {
    MutexLock lock(mu);
    auto it = deployments.find(name);
    if (it == deployments.end()) return respond(Error(404, "no deployment " + name));
    std::string body;
    JsonWriter w(&body);
    hub::WriteDeployment(w, it->second);
    return respond(Json(200, std::move(body)));
  }
  if (req.method == "DELETE") {
    MutexLock lock(mu);
    if (store->backend() != "sqlite") (void)ReloadIfChanged();  // as for PUT below
    auto it = deployments.find(name);
    if (it == deployments.end()) return respond(Error(404, "no deployment " + name));
    if (Status st = store->Delete(DocKind::kDeployment, name, it->second.revision); !st.ok())
      return respond(Error(StatusFor(st), st.message()));
    if (auto r = rollouts.find(name); r != rollouts.end()) {
      (void)store->Delete(DocKind::kRollout, name, r->second.revision);
      rollouts.erase(r);
    }
    deployments.erase(it);
    Event("deployment/" + name, "deleted", "its models are removed from its nodes");
    Wake();
    return respond(Json(200, "{}"));
  }
  if (req.method != "PUT") return respond(Error(405, "deployments take GET, PUT and DELETE"));
  auto spec = hub::ParseDeploymentSpec(req.body, name);
  if (!spec.ok()) return respond(Error(400, spec.status().message()));
  if (spec->digest.empty()) {
    auto ref = hub::ParsePackageRef(spec->package);
    auto digest = opt.resolve_tag(ref->repository, ref->tag);
    if (!digest.ok())
      return respond(Error(
          digest.status().code() == StatusCode::kNotFound ? 400 : 502,
          "deployment: package " + spec->package + ": cannot resolve the tag: " + digest.status().message()));
    spec->digest = *digest;
  }
  MutexLock lock(mu);
  // Several replicas: read the deployment's latest revision (the leader may have just written it).
  if (store->backend() != "sqlite") (void)ReloadIfChanged();
  auto it = deployments.find(name);
  hub::Deployment d = std::move(*spec);
  d.updated_ms = now;
  if (it == deployments.end()) {
    if (static_cast<int64_t>(deployments.size()) >= opt.max_deployments)
      return respond(Error(503, "the hub holds --max-deployments deployments"));
    d.created_ms = now;
  } else {
    d.created_ms = it->second.created_ms;
    d.stable_package = it->second.stable_package;
    d.stable_digest = it->second.stable_digest;
    d.generation = it->second.generation + (it->second.digest != d.digest ? 1 : 0);
  }
  int64_t expected = it == deployments.end() ? 0 : it->second.revision;
  auto rev = store->Put(DocKind::kDeployment, name, hub::DeploymentDocJson(d), expected, now);
  if (!rev.ok()) return respond(Error(StatusFor(rev.status()), rev.status().message()));
  d.revision = *rev;
  Event("deployment/" + name, "applied",
        d.package + " (" + d.digest.substr(0, 19) + "), generation " + std::to_string(d.generation));
  std::string body;
  JsonWriter w(&body);
  hub::WriteDeployment(w, d);
  deployments[name] = std::move(d);
  Wake();
  respond(Json(200, std::move(body)));
}

std::string Hub::Impl::PlanJson(const hub::Deployment& d, int64_t now) {
  auto fresh = [&](const hub::NodeState& n) { return Fresh(n, now); };
  auto current = [&](const hub::NodeState& n) {
    return std::any_of(n.targets.begin(), n.targets.end(),
                       [&](const Target& t) { return t.deployment == d.name; });
  };
  auto plan = hub::PlanDeployment(d, nodes, fresh, current);
  if (!plan.ok()) return "{\"error\":\"" + plan.status().message() + "\"}";
  std::string body;
  JsonWriter w(&body);
  hub::WritePlan(w, d, *plan);
  return body;
}

}  // namespace continuum::fleet
