#include "gateway/gateway.h"

#include <simdjson.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <optional>

#include "api/http_status.h"
#include "api/route.h"
#include "gateway/dispatcher.h"
#include "gateway/internal/feedback.h"
#include "gateway/internal/finish.h"
#include "gateway/internal/forwarding.h"
#include "gateway/internal/plan_builder.h"

namespace continuum::gateway {

using namespace internal;

namespace {

bool ParseInt(std::string_view s, int64_t* out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

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
      reports_(std::make_unique<RouterReports>(router)),
      inflight_(std::make_unique<InFlight>(reports_.get())),
      client_(std::make_unique<http::Client>(http::ClientOptions{.loops = options_.loops,
                                                                 .tls_by_url = options_.upstream_tls_by_url,
                                                                 .tls = options_.upstream_tls})) {
  if (options_.local_handler) local_ = std::make_shared<LocalEndpoint>(client_.get(), options_.local_handler);
  const auto topology = router_->topology();
  if (options_.metrics) {
    metrics_ = std::make_shared<GatewayMetrics>(*options_.metrics, *topology);
    metrics_->Refresh(*router_);
  }
  tls_start_.defaults = options_.upstream_tls;
  tls_start_.by_url = options_.upstream_tls_by_url;
  for (const auto& n : topology->nodes)
    if (n.tls && tls_start_.by_url.count(n.url)) tls_start_.blocks[n.url] = *n.tls;
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

Status Gateway::SetTopology(router::Topology topology) {
  std::lock_guard<std::mutex> update(update_mu_);
  std::shared_ptr<const UpstreamTls> current = UpstreamTlsNow();
  ASSIGN_OR_RETURN(UpstreamTls next, UpdateUpstreamTls(current ? *current : tls_start_, topology,
                                                       options_.upstream_tls_options));
  {
    std::lock_guard<std::mutex> lock(tls_mu_);
    tls_ = std::make_shared<const UpstreamTls>(std::move(next));
  }
  router_->SetTopology(std::move(topology));
  if (metrics_) {
    metrics_->AddNodes(*router_->topology());
    metrics_->Refresh(*router_);
  }
  return Status();
}

std::shared_ptr<const UpstreamTls> Gateway::UpstreamTlsNow() const {
  std::lock_guard<std::mutex> lock(tls_mu_);
  return tls_;
}

void Gateway::ProbeLoop() {
  auto probe = [this](const std::string& name, const char* target, http::ClientCallback on_answer) {
    const auto topology = router_->topology();
    const router::Node* node = topology->FindNode(name);
    if (!node) return;
    http::ClientRequest req;
    req.method = "GET";
    req.target = target;
    if (auto tls = UpstreamTlsNow()) req.tls = tls->For(node->url);
    SendToNode(client_.get(), local_.get(), node->url, std::move(req),
               std::chrono::steady_clock::now() + options_.probe_timeout, std::move(on_answer));
  };
  router::Router* r = router_;
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, options_.probe_period, [this] { return stopping_; })) {
    if (metrics_) metrics_->Refresh(*router_);
    for (const std::string& name : router_->NodesToProbe()) {
      probe(name, "/v2/health/ready", [r, name](StatusOr<http::ClientResponse> resp) {
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
      probe(name, "/v2/health/live", [r, name](StatusOr<http::ClientResponse> resp) {
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

void Gateway::Handle(http::Request&& req, http::Responder respond) {
  Tags tags;
  if (req.path == "/v2/health/live" || req.path == "/v2/health/ready") {
    tags.reason = "answered by the gateway";
    if (req.method != "GET" && req.method != "HEAD")
      return respond(
          LocalAnswer(405, ErrorJson("method " + req.method + " is not allowed on " + req.path), tags));
    return respond(LocalAnswer(200, "", tags));
  }
  auto route = MatchRoute(req.path);
  if (!route.ok()) {
    tags.reason = "no route";
    return respond(LocalAnswer(404, ErrorJson(route.status().message()), tags));
  }
  if (req.method != "POST") {
    tags.reason = "method not allowed";
    return respond(
        LocalAnswer(405, ErrorJson("method " + req.method + " is not allowed on " + req.path), tags));
  }
  auto policy = RequestPolicy(req, route->v2);
  if (!policy.ok()) {
    tags.reason = "bad policy";
    return respond(LocalAnswer(400, ErrorJson(policy.status().message()), tags));
  }
  // What goes upstream: the end-to-end headers only, and nothing that cannot be written on the
  // wire as it is (refused here, before any node is chosen or counted).
  auto up = UpstreamHead(req);
  if (!up.ok()) {
    tags.reason = "bad request";
    return respond(LocalAnswer(HttpStatusFor(up.status().code()), ErrorJson(up.status().message()), tags));
  }

  router::Request rr;
  rr.model = route->model;
  rr.version = route->version;
  rr.input_bytes = req.body.size();
  rr.policy = *policy;
  // The request's id and its decision record exist only for the decision log.
  const uint64_t id = next_id_.fetch_add(1);
  auto request_id = [id] { return "g-" + std::to_string(id); };
  const auto now = router_->Now();
  auto decision = router_->Decide(rr);
  if (!decision.ok()) {
    const Status& st = decision.status();
    tags.reason = st.message();
    if (log_) LogRefusal(log_, request_id(), now, rr, st);
    return respond(LocalAnswer(HttpStatusFor(st.code()), ErrorJson(st.message()), tags));
  }
  // The plan: choice then fallbacks (all inside the residency class: the Router guarantees it,
  // the plan checks it again, and the dispatcher only ever uses these names).
  // The topology the decision was made on: a request decided just before SetTopology removed its
  // node still goes there (the node was serving it a moment ago).
  std::shared_ptr<const router::Topology> topology =
      decision->topology ? decision->topology : router_->topology();
  Plan plan = BuildPlan(*decision, *topology, options_, std::chrono::steady_clock::now());
  std::shared_ptr<const UpstreamTls> tls = UpstreamTlsNow();
  if (tls) {
    for (Target& t : plan.chain) t.tls = tls->For(t.url);
    if (plan.hedge) plan.hedge->tls = tls->For(plan.hedge->url);
  }
  if (plan.chain.empty()) {
    tags.reason = "no candidate inside the residency class";
    return respond(LocalAnswer(503, ErrorJson("no candidate: " + decision->reason), tags));
  }
  plan.local = local_;
  plan.cancel = req.cancel;  // the client leaving cancels the calls made for it
  up->body = std::move(req.body);

  DispatchHooks hooks = FeedbackHooks(reports_.get(), inflight_.get(), *decision, rr.model);
  GatewayMetrics* m = metrics_.get();
  const bool explore = decision->hedge && decision->hedge->explore;
  if (explore) {
    // An exploration copy goes with the choice (its delay is 0), to its node, already paid for.
    if (m && plan.hedge) m->hedge_explore->Increment();
  } else if (plan.hedge) {
    // The hedge, when due, goes to the best node of that moment (the runner-up may have been held
    // up since), still inside the residency class, and only if the hedge budget has a token.
    // Without a hedge in the plan none is ever due.
    hooks.hedge_target = HedgeTargetWhenDue(router_, rr, decision->policy.residency, m);
    if (tls) {
      hooks.hedge_target = [pick = std::move(hooks.hedge_target), tls](const std::vector<std::string>& busy) {
        std::optional<Target> t = pick(busy);
        if (t) t->tls = tls->For(t->url);
        return t;
      };
    }
  }
  Finish finish{.reports = reports_.get(),
                .topology = std::move(topology),
                .log = log_,
                .metrics = m,
                .record = log_ ? router::RecordFromDecision(request_id(), now, rr, *decision)
                               : router::DecisionRecord{},
                .reason = std::move(decision->reason),  // the record was taken: the decision is done with
                .residency = decision->policy.residency,
                .planned = plan.chain.size(),  // taken before the plan moves into Dispatch
                .choice = std::move(decision->choice),
                .choice_p95_ms = decision->candidates[0].p95_ms,
                .sent = std::chrono::steady_clock::now()};
  Dispatch(client_.get(), std::move(plan), std::move(*up), std::move(hooks),
           [respond = std::move(respond), finish = std::move(finish)](Outcome o) mutable {
             respond(finish(std::move(o), std::chrono::steady_clock::now()));
           });
}

}  // namespace continuum::gateway
