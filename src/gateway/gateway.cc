#include "gateway/gateway.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>

#include "api/http_status.h"
#include "api/route.h"
#include "common/json_writer.h"
#include "common/log.h"
#include "common/node_report.h"
#include "gateway/dispatcher.h"
#include "http/validate.h"

namespace continuum::gateway {

namespace {

std::string Printable(std::string_view s, size_t max) {
  std::string out;
  for (char c : s) {
    if (out.size() >= max) break;
    out.push_back(c >= 0x20 && c < 0x7f ? c : '?');
  }
  return out;
}

std::string ErrorJson(std::string_view message) {
  std::string out;
  JsonWriter w(&out);
  w.BeginObject().Key("error").String(Printable(message, 4096)).EndObject();
  return out;
}

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

// Headers never forwarded in either direction: hop-by-hop (RFC 9110 §7.6.1: Connection,
// Keep-Alive, Proxy-Authenticate, Proxy-Authorization, Proxy-Connection, TE, Trailer,
// Transfer-Encoding, Upgrade; the names a Connection header lists are in ConnectionOptions), or
// written by the HTTP layer.
bool HopByHop(std::string_view name) {
  static constexpr std::string_view kNames[] = {"connection",
                                                "keep-alive",
                                                "proxy-authenticate",
                                                "proxy-authorization",
                                                "proxy-connection",
                                                "te",
                                                "trailer",
                                                "transfer-encoding",
                                                "upgrade",
                                                "expect",
                                                "content-length",
                                                "host",
                                                "server",
                                                "date",
                                                "content-type"};
  return std::find(std::begin(kNames), std::end(kNames), name) != std::end(kNames);
}

// The header names a message's Connection headers list, lower-cased: that message's own
// hop-by-hop headers, never forwarded.
std::vector<std::string> ConnectionOptions(const std::vector<std::pair<std::string, std::string>>& headers) {
  std::vector<std::string> named;
  for (const auto& [k, v] : headers) {
    if (k != "connection") continue;
    size_t start = 0;
    while (start <= v.size()) {
      size_t comma = v.find(',', start);
      if (comma == std::string::npos) comma = v.size();
      std::string_view item(v.data() + start, comma - start);
      while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
      while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
      if (!item.empty()) {
        std::string name(item);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        named.push_back(std::move(name));
      }
      start = comma + 1;
    }
  }
  return named;
}

// True for an end-to-end header of a message whose Connection headers named `named`.
bool Forwarded(std::string_view lower_name, const std::vector<std::string>& named) {
  return !HopByHop(lower_name) && std::find(named.begin(), named.end(), lower_name) == named.end();
}

// The target written upstream: the client's own, still percent-encoded (an escaped CR or LF
// stays three harmless characters); a request made in-process, or sent in absolute-form, gets
// its decoded path encoded again.
std::string UpstreamTarget(const http::Request& req) {
  if (!req.target.empty() && req.target.front() == '/') return req.target.substr(0, req.target.find('#'));
  return http::EncodePath(req.path) + (req.query.empty() ? "" : "?" + req.query);
}

struct Tags {
  std::string tier = "none", node = "none", step = "none", reason;
};

// The headers the gateway sets itself; a node's own values for them are dropped.
bool IsRoutingTag(std::string_view lower_name) {
  return lower_name == "x-continuum-tier" || lower_name == "x-continuum-node" ||
         lower_name == "x-continuum-fallback-step" || lower_name == "x-continuum-reason";
}

void AddTags(http::Response* r, const Tags& t) {
  r->headers.emplace_back("X-Continuum-Tier", t.tier);
  r->headers.emplace_back("X-Continuum-Node", HeaderSafe(t.node));
  r->headers.emplace_back("X-Continuum-Fallback-Step", t.step);
  r->headers.emplace_back("X-Continuum-Reason", HeaderSafe(t.reason));
}

http::Response Local(int status, std::string body, const Tags& tags) {
  http::Response r;
  r.status = status;
  r.body = std::move(body);
  AddTags(&r, tags);
  return r;
}

// The answer when no candidate served the request: which residency class (if any) could not be
// served, how many of the planned candidates were tried, and why each failed (briefly). A request
// the gateway could not write (InvalidArgument) keeps its own message: no node was at fault.
std::string NoNodeServed(const Outcome& o, const std::optional<std::string>& residency, size_t planned) {
  if (o.error.code() == StatusCode::kInvalidArgument) return o.error.message();
  std::string m = o.error.code() == StatusCode::kDeadlineExceeded ? "deadline exceeded: " : "";
  m += "no node";
  if (residency) m += " of residency class '" + *residency + "'";
  m += " could serve the request: ";
  std::vector<std::string> tried;
  for (const Attempt& a : o.attempts)
    if (std::find(tried.begin(), tried.end(), a.node) == tried.end()) tried.push_back(a.node);
  m += std::to_string(tried.size()) + " of " + std::to_string(std::max(planned, tried.size())) +
       (std::max(planned, tried.size()) == 1 ? " candidate" : " candidates") + " tried";
  if (o.attempts.empty()) return m + " (the deadline passed first)";
  constexpr size_t kMaxWhy = 160;  // per attempt: enough for "connect host:port: Connection refused"
  const char* sep = ": ";
  for (const Attempt& a : o.attempts) {
    std::string why = a.status.message();
    if (why.size() > kMaxWhy) why = why.substr(0, kMaxWhy) + "...";
    m += sep + a.node + (a.step < 0 ? " (hedge)" : "") + ": " + why;
    sep = "; ";
  }
  return m;
}

// A finite, non-negative number in a node's response header, if present.
std::optional<double> NumericHeader(const UpstreamResponse& resp, std::string_view name) {
  const std::string* v = resp.Header(name);
  if (!v) return std::nullopt;
  return ParseNodeReportValue(*v);
}

}  // namespace

std::string HeaderSafe(std::string_view s) { return Printable(s, 200); }

StatusOr<RouteTarget> MatchRoute(std::string_view path) {
  // The grammar the node and the filters use; the gateway forwards only canonical paths that run
  // a model, so the name it routes on is the one they see.
  Route route = ParseRoute(path);
  if (!IsForwardable(route)) return NotFound("no route for " + std::string(path));
  RouteTarget t;
  t.v2 = route.kind == RouteKind::kV2Infer;
  if (!route.version.empty()) t.version = *ParseModelVersion(route.version);
  t.model = std::move(route.model);
  return t;
}

StatusOr<router::Policy> RequestPolicy(const http::Request& request, bool v2) {
  router::Policy body_policy;
  std::string_view json = request.body;
  if (const std::string* h = request.Header("inference-header-content-length"); h && v2) {
    int64_t n = 0;
    if (ParseInt(*h, &n) && n >= 0 && static_cast<size_t>(n) <= json.size()) json = json.substr(0, n);
  }
  size_t first = json.find_first_not_of(" \t\r\n");
  // Without the key (written plainly, or with escapes that would need decoding) there is no
  // policy in the body: most requests skip the parse.
  const bool may_have_policy =
      json.find("\"parameters\"") != std::string_view::npos || json.find('\\') != std::string_view::npos;
  if (may_have_policy && first != std::string_view::npos && json[first] == '{') {
    // Small bodies reuse one parser per thread (its buffers stay allocated); a large one gets
    // its own, so no thread keeps a buffer sized to the largest body it ever saw.
    constexpr size_t kReusedParserBytes = 1u << 20;
    thread_local simdjson::dom::parser reused;
    std::optional<simdjson::dom::parser> own;
    simdjson::dom::parser& parser = json.size() <= kReusedParserBytes ? reused : own.emplace();
    simdjson::padded_string padded(json);
    simdjson::dom::element doc;
    // A body that is not valid JSON carries no policy; the node will refuse it.
    if (!parser.parse(padded).get(doc)) {
      simdjson::dom::element params;
      if (doc.is_object() && !doc["parameters"].get(params)) {
        if (!params.is_object()) return InvalidArgument("parameters: must be an object");
        auto p = router::ParsePolicyJson(simdjson::minify(params));
        if (!p.ok()) return p.status();
        body_policy = *p;
      }
    }
  }
  if (const std::string* h = request.Header("x-continuum-policy")) {
    auto p = router::ParsePolicyHeader(*h);
    if (!p.ok()) return p.status();
    return router::MergePolicy(body_policy, *p);
  }
  return body_policy;
}

Gateway::Gateway(router::Router* router, router::DecisionLog* log, GatewayOptions options)
    : router_(router),
      log_(log),
      options_(options),
      client_(std::make_unique<UpstreamClient>(UpstreamOptions{.loop = options_.loop})) {
  if (options_.local_handler) local_ = std::make_shared<LocalEndpoint>(client_.get(), options_.local_handler);
  if (options_.metrics) {
    metrics_ = std::make_shared<GatewayMetrics>(*options_.metrics, router_->topology());
    metrics_->Refresh(*router_);
  }
  if (options_.probe_period.count() > 0) prober_ = std::thread([this] { ProbeLoop(); });
}

Gateway::~Gateway() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (prober_.joinable()) prober_.join();
  if (local_) local_->Detach();  // late in-process answers must not reach a destroyed client
  client_.reset();
}

void Gateway::ProbeLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, options_.probe_period, [this] { return stopping_; })) {
    if (metrics_) metrics_->Refresh(*router_);
    for (const std::string& name : router_->NodesToProbe()) {
      const router::Node* node = router_->topology().FindNode(name);
      if (!node) continue;
      UpstreamRequest req;
      req.method = "GET";
      req.target = "/v2/health/ready";
      router::Router* r = router_;
      SendToNode(client_.get(), local_.get(), node->url, std::move(req),
                 std::chrono::steady_clock::now() + options_.probe_timeout,
                 [r, name](StatusOr<UpstreamResponse> resp) {
                   bool ok = resp.ok() && resp->status == 200;
                   if (ok) {
                     r->ProbeResult(name, true, resp->duration_ms);
                   } else {
                     r->ProbeResult(name, false);
                   }
                 });
    }
    // Light probes of healthy nodes nothing was sent to lately: their link estimates follow the
    // link (a congested path that recovered wins its traffic back), and a node that stopped
    // answering is ejected before a request finds out.
    for (const std::string& name : router_->NodesToRefresh()) {
      const router::Node* node = router_->topology().FindNode(name);
      if (!node) continue;
      UpstreamRequest req;
      req.method = "GET";
      req.target = "/v2/health/live";
      router::Router* r = router_;
      SendToNode(client_.get(), local_.get(), node->url, std::move(req),
                 std::chrono::steady_clock::now() + options_.probe_timeout,
                 [r, name](StatusOr<UpstreamResponse> resp) {
                   if (resp.ok() && resp->status == 200) {
                     r->ObserveRtt(name, resp->duration_ms);
                     r->ReportSuccess(name);
                   } else {
                     r->ReportFailure(name);
                   }
                 });
    }
  }
}

void Gateway::Sent(const Copy& copy) {
  size_t depth;
  TimePoint earliest;
  double work;
  {
    std::lock_guard<std::mutex> lock(inflight_mu_);
    Outstanding& o = outstanding_[copy.node];
    o.due.insert(copy.due);
    o.work_ms += copy.work_ms;
    depth = o.due.size();
    earliest = *o.due.begin();
    work = o.work_ms;
  }
  router_->ReportQueueDepth(copy.node, static_cast<double>(depth));
  router_->ReportOutstanding(copy.node, earliest, work);
}

void Gateway::Ended(const Copy& copy) {
  size_t depth = 0;
  std::optional<TimePoint> earliest;
  double work;
  {
    std::lock_guard<std::mutex> lock(inflight_mu_);
    Outstanding& o = outstanding_[copy.node];
    if (auto it = o.due.find(copy.due); it != o.due.end()) o.due.erase(it);
    o.work_ms = o.due.empty() ? 0.0 : std::max(0.0, o.work_ms - copy.work_ms);  // no drift when idle
    depth = o.due.size();
    if (!o.due.empty()) earliest = *o.due.begin();
    work = o.work_ms;
  }
  router_->ReportQueueDepth(copy.node, static_cast<double>(depth));
  router_->ReportOutstanding(copy.node, earliest, work);
}

void Gateway::Handle(http::Request&& req, http::Responder respond) {
  Tags tags;
  if (req.path == "/v2/health/live" || req.path == "/v2/health/ready") {
    tags.reason = "answered by the gateway";
    if (req.method != "GET" && req.method != "HEAD")
      return respond(Local(405, ErrorJson("method " + req.method + " is not allowed on " + req.path), tags));
    return respond(Local(200, "", tags));
  }
  auto route = MatchRoute(req.path);
  if (!route.ok()) {
    tags.reason = "no route";
    return respond(Local(404, ErrorJson(route.status().message()), tags));
  }
  if (req.method != "POST") {
    tags.reason = "method not allowed";
    return respond(Local(405, ErrorJson("method " + req.method + " is not allowed on " + req.path), tags));
  }
  auto policy = RequestPolicy(req, route->v2);
  if (!policy.ok()) {
    tags.reason = "bad policy";
    return respond(Local(400, ErrorJson(policy.status().message()), tags));
  }

  // What goes upstream: the end-to-end headers only, and nothing that cannot be written on the
  // wire as it is (refused here, before any node is chosen or counted).
  UpstreamRequest up;
  up.method = req.method;
  up.target = UpstreamTarget(req);
  const std::vector<std::string> named = ConnectionOptions(req.headers);
  for (auto& [k, v] : req.headers)
    if (Forwarded(k, named)) up.headers.emplace_back(k, v);
  if (const std::string* ct = req.Header("content-type")) up.headers.emplace_back("content-type", *ct);
  if (Status st = http::CheckRequestHead(up.method, up.target, up.headers); !st.ok()) {
    tags.reason = "bad request";
    return respond(Local(HttpStatusFor(st.code()), ErrorJson(st.message()), tags));
  }

  router::Request rr;
  rr.model = route->model;
  rr.version = route->version;
  rr.input_bytes = req.body.size();
  rr.policy = *policy;
  const std::string request_id = "g-" + std::to_string(next_id_.fetch_add(1));
  const auto now = router_->Now();
  auto decision = router_->Decide(rr);
  if (!decision.ok()) {
    const Status& st = decision.status();
    tags.reason = st.message();
    if (log_) {
      router::DecisionRecord rec;
      rec.request_id = request_id;
      rec.time = now;
      rec.model = rr.model;
      rec.version = rr.version;
      rec.policy = rr.policy;
      rec.outcome = st.code() == StatusCode::kUnavailable ? "no_candidate" : st.message();
      (void)log_->Append(rec);
    }
    return respond(Local(HttpStatusFor(st.code()), ErrorJson(st.message()), tags));
  }

  // The plan: choice then fallbacks (all inside the residency class: the Router guarantees it,
  // and the dispatcher only ever uses these names).
  auto budget = options_.request_timeout;
  if (decision->policy.latency_target_ms) {
    auto t = std::chrono::milliseconds(
        static_cast<int64_t>(*decision->policy.latency_target_ms * options_.latency_target_factor));
    budget = std::min(budget, std::max(t, options_.min_deadline));
  }
  Plan plan;
  const router::Topology& topo = router_->topology();
  auto target_of = [&](const std::string& name) -> std::optional<Target> {
    const router::Node* n = topo.FindNode(name);
    if (!n) return std::nullopt;
    // Residency fails closed: never send outside the class, whatever the decision says.
    if (decision->policy.residency && !n->Satisfies(*decision->policy.residency)) return std::nullopt;
    Target t{n->name, n->url};
    if (options_.attempt_timeout_factor > 0) {
      for (const auto& c : decision->candidates) {
        if (c.node != name) continue;
        const double ms = std::max(options_.attempt_timeout_factor * c.p95_ms,
                                   options_.attempt_budget_share * static_cast<double>(budget.count()));
        t.timeout = std::chrono::milliseconds(static_cast<int64_t>(std::min(ms, 1e9)));
      }
    }
    return t;
  };
  if (auto t = target_of(decision->choice)) plan.chain.push_back(*t);
  for (const auto& f : decision->fallbacks)
    if (auto t = target_of(f)) plan.chain.push_back(*t);
  if (!plan.chain.empty()) plan.chain.back().timeout = std::chrono::milliseconds(0);  // what remains
  if (decision->hedge) {
    plan.hedge = target_of(decision->hedge->node);
    plan.hedge_delay =
        std::chrono::microseconds(static_cast<int64_t>(std::max(0.0, decision->hedge->delay_ms) * 1000.0));
  }
  if (plan.chain.empty()) {
    tags.reason = "no candidate inside the residency class";
    return respond(Local(503, ErrorJson("no candidate: " + decision->reason), tags));
  }
  plan.deadline = std::chrono::steady_clock::now() + budget;
  plan.local = local_;
  // An exploration copy that loses is awaited whatever the setting: its answer is what it is for.
  plan.await_losers = options_.await_hedge_losers || (decision->hedge && decision->hedge->explore);

  up.body = std::move(req.body);

  router::DecisionRecord rec = router::RecordFromDecision(request_id, now, rr, *decision);
  router::Router* router = router_;
  router::DecisionLog* log = log_;
  std::string reason = decision->reason;
  DispatchHooks hooks;
  // This exchange's copies in flight. The hooks run on the upstream client's single I/O thread,
  // one exchange's hooks never concurrently.
  auto sends = std::make_shared<std::vector<Copy>>();
  // Each candidate's predicted p95 (for its due time) and compute (the work it adds to the node).
  std::map<std::string, std::pair<double, double>> predicted;
  for (const auto& c : decision->candidates) predicted[c.node] = {c.p95_ms, c.compute_ms};
  auto ended = [this, sends](const std::string& node) {
    auto it = std::find_if(sends->begin(), sends->end(), [&](const Copy& s) { return s.node == node; });
    if (it == sends->end()) return;
    const Copy copy = *it;
    sends->erase(it);
    Ended(copy);
  };
  hooks.on_send = [this, sends, router, predicted = std::move(predicted)](const std::string& node) {
    const auto it = predicted.find(node);
    const double p95 = it == predicted.end() ? 0.0 : std::min(it->second.first, 1e9);
    const double work = it == predicted.end() ? 0.0 : std::min(it->second.second, 1e9);
    const TimePoint due = router->Now() + std::chrono::microseconds(static_cast<int64_t>(p95 * 1000));
    sends->push_back(Copy{node, due, work});
    Sent(sends->back());
  };
  hooks.on_cancel = ended;
  GatewayMetrics* m = metrics_.get();
  if (decision->hedge && decision->hedge->explore) {
    // An exploration copy goes with the choice (its delay is 0), to its node, already paid for.
    if (m && plan.hedge) m->hedge_explore->Increment();
  } else {
    // The hedge, when due, goes to the best node of that moment (the runner-up may have been held
    // up since), still inside the residency class, and only if the hedge budget has a token.
    hooks.hedge_target = [router, rr, residency = decision->policy.residency,
                          m](const std::vector<std::string>& busy) -> std::optional<Target> {
      if (m) m->hedge_due->Increment();
      auto node = router->PickHedge(rr, busy);
      const router::Node* n = node ? router->topology().FindNode(*node) : nullptr;
      if (!n || (residency && !n->Satisfies(*residency))) {  // fails closed
        if (m) m->hedge_no_target->Increment();
        return std::nullopt;
      }
      if (!router->TryStartHedge()) {
        if (m) m->hedge_no_budget->Increment();
        return std::nullopt;
      }
      if (m) m->hedge_sent->Increment();
      return Target{n->name, n->url};  // it may use what remains of the deadline
    };
  }
  hooks.on_failure = [ended, router](const std::string& node) {
    ended(node);
    router->ReportFailure(node);
  };
  // What an answer says of its node and link: from the winner, and from an exploration copy that
  // lost (its answer is the one fresh sample of a stale link, whether or not it won).
  std::string explored = decision->hedge && decision->hedge->explore ? decision->hedge->node : "";
  auto learn = [router, model = rr.model, explored](const std::string& node, const UpstreamResponse& resp,
                                                    uint64_t bytes) {
    router->ReportSuccess(node);
    // The node's own view of its queue, when it reports one, replaces the gateway's in-flight count.
    if (auto depth = NumericHeader(resp, kQueueDepthHeader)) router->ReportQueueDepth(node, *depth);
    if (resp.status < 200 || resp.status >= 300) return;  // a refusal says little about speed
    // Compute time: the engine run the node reports (X-Continuum-Run-Ms; its queue comes from the
    // depth above), else its time on the node (X-Continuum-Compute-Ms: queue wait + run), else what
    // remains of the exchange after rtt and transfer at the current estimates. Transfer is what
    // remains after the time on the node (the estimator takes the rtt off).
    const double ms = resp.duration_ms;
    double compute, on_node;
    if (auto run = NumericHeader(resp, kRunMsHeader)) {
      compute = std::min(*run, ms);
      auto reported = NumericHeader(resp, kComputeMsHeader);
      on_node = reported ? std::clamp(*reported, compute, ms) : compute;
    } else if (auto reported = NumericHeader(resp, kComputeMsHeader)) {
      compute = on_node = std::min(*reported, ms);
    } else {
      const double bw = router->EstimatedBandwidthMbps(node);
      const double transfer = bw > 0 ? static_cast<double>(bytes) * 8.0 / 1e6 / bw * 1000.0 : 0.0;
      compute = on_node = std::max(0.0, ms - router->EstimatedRttMs(node) - transfer);
    }
    router->ObserveCompute(node, model, compute);
    router->ObserveTransfer(node, bytes, std::max(0.0, ms - on_node), node == explored);
  };
  hooks.on_success = [ended, learn](const std::string& node, const UpstreamResponse& resp, uint64_t bytes) {
    ended(node);
    learn(node, resp, bytes);
  };
  // A hedge's loser is a straggler's answer (the stall is known: the overdue rule saw it) or a
  // hedge's (the node was not needed): not learned from, so the compute window is not tilted
  // towards stalls by every rescue. An exploration copy's answer is its link's one fresh sample.
  if (!explored.empty()) {
    hooks.on_loser_answer = [learn, explored](const std::string& node, const UpstreamResponse& resp,
                                              uint64_t bytes) {
      if (node == explored) learn(node, resp, bytes);
    };
  }
  const size_t planned = plan.chain.size();  // taken before the plan moves into Dispatch
  Dispatch(client_.get(), std::move(plan), std::move(up), std::move(hooks),
           [respond = std::move(respond), rec = std::move(rec), reason, router, log,
            residency = decision->policy.residency, planned, sent = std::chrono::steady_clock::now(),
            choice = decision->choice, p95 = decision->candidates[0].p95_ms, m](Outcome o) mutable {
             const double elapsed_ms =
                 std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent).count();
             // How long the answer took against the choice's prediction: what its hedge delay adapts to.
             if (o.served) router->ObserveAnswer(choice, elapsed_ms, p95);
             if (m) {
               if (!o.served) {
                 m->failures->Increment();
               } else if (const GatewayMetrics::PerNode* n = m->Find(o.node)) {
                 (o.step < 0 ? n->hedge : o.step == 0 ? n->first : n->fallback)->Increment();
                 if (o.step < 0) m->hedge_won->Increment();
                 n->duration->Observe(elapsed_ms / 1000.0);
               }
             }
             // The routing headers name the node that answered; when none did, "none".
             Tags tags;
             tags.reason = reason;
             if (o.served) {
               tags.node = o.node;
               if (const router::Node* n = router->topology().FindNode(o.node))
                 tags.tier = std::string(router::TierName(n->tier));
               tags.step = o.step < 0 ? "hedge" : std::to_string(o.step);
             }
             rec.choice = o.node;
             rec.fallback_step = o.step;
             http::Response r;
             if (o.served) {
               rec.outcome = "ok";
               r.status = o.response.status;
               r.content_type = "";
               const std::vector<std::string> named = ConnectionOptions(o.response.headers);
               for (auto& [k, v] : o.response.headers) {
                 if (k == "content-type") {
                   r.content_type = v;
                 } else if (Forwarded(k, named) && !IsRoutingTag(k)) {  // node timings pass through
                   r.headers.emplace_back(k, v);
                 }
               }
               r.body = std::move(o.response.body);
             } else {
               rec.outcome = "failed";
               r.status = HttpStatusFor(o.error.code());
               r.body = ErrorJson(NoNodeServed(o, residency, planned));
             }
             AddTags(&r, tags);
             if (log) {
               if (Status st = log->Append(rec); !st.ok()) LogWarning("decision log: " + st.message());
             }
             respond(std::move(r));
           });
}

}  // namespace continuum::gateway
