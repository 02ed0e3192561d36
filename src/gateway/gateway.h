// The front door: routes each inference request to a node chosen by the Router and forwards it
// over the http::Client (fallbacks, hedging, deadlines), answering with the node's response
// plus X-Continuum-Tier / -Node / -Fallback-Step / -Reason headers.
//
// Routes: POST /v2/models/{m}[/versions/{v}]/infer, POST /ai/run/{model} (forwarded unchanged),
// GET /v2/health/live|ready (answered here); anything else 404.
// Policy: the JSON body's top-level `parameters` (v2: the JSON header part only), overridden
// field by field by the X-Continuum-Policy header.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "gateway/upstream_tls.h"
#include "http/client.h"
#include "http/message.h"
#include "router/decision_log.h"
#include "router/router.h"
#include "telemetry/metrics.h"

namespace continuum::gateway {

struct GatewayOptions {
  std::chrono::milliseconds request_timeout{30000};  // deadline without a latency target
  double latency_target_factor = 20;                 // deadline = target x factor (>= min_deadline)
  std::chrono::milliseconds min_deadline{1000};
  // Per-attempt timeout of every candidate but the last: factor x its predicted p95, and at least
  // attempt_budget_share of the request's deadline, so a stalled node leaves time for the next
  // one while a mere straggler is still waited for (a timeout is a failure: it sends a second
  // copy and counts towards ejection). Factor 0: off, every attempt may use the whole deadline.
  // The last candidate always gets what remains.
  double attempt_timeout_factor = 4;
  double attempt_budget_share = 0.5;
  std::chrono::milliseconds probe_period{250};  // how often probes are due is asked (0: never)
  std::chrono::milliseconds probe_timeout{2000};
  // Serves the topology's local:// nodes in-process (a node's V2 and task APIs); without one,
  // a request sent to such a node fails that attempt and falls back.
  http::Handler local_handler;
  // Run the upstream client on these loops (the HTTP server's in front, one per I/O thread), so
  // that a forwarded request stays on the thread that accepted it from accept to answer; none: a
  // thread of its own.
  std::vector<std::shared_ptr<http::IoLoop>> loops;
  // Where the gateway registers its metrics (see GatewayMetrics); null: none kept. Must outlive
  // the gateway.
  telemetry::Registry* metrics = nullptr;
  // Plan::await_losers for every request: the loser of a hedge race stays counted on its node
  // until it ends there.
  bool await_hedge_losers = true;
  // How https:// nodes are reached (see upstream_tls.h: MakeUpstreamTls): the default settings,
  // and those of nodes with their own; null default: the system trust store.
  std::shared_ptr<const tls::ClientContext> upstream_tls;
  std::map<std::string, std::shared_ptr<const tls::ClientContext>, std::less<>> upstream_tls_by_url;
  // The settings `upstream_tls` was made from: what Gateway::SetTopology makes the contexts of
  // nodes added later from.
  tls::ClientTlsOptions upstream_tls_options;
};

// The gateway's Prometheus metrics: per node, answers by how they were won and their latency; the
// hedges by what became of them; and, refreshed with every probe round, each node's health and
// the router's estimates for it.
//   continuum_gateway_answers_total{node,tier,step}        step: first | fallback | hedge
//   continuum_gateway_failures_total                       dispatched, no node answered in time
//   continuum_gateway_request_duration_seconds{node,tier}  histogram, dispatch to answer
//   continuum_gateway_hedges_total{result}  due | sent | no_budget | no_target | won | explore
//   continuum_gateway_attempt_failures_total{node,reason}  tls | connect | timeout | error
//   continuum_router_node_up{node}                         0 while ejected
//   continuum_router_rtt_seconds{node}, continuum_router_bandwidth_bytes_per_second{node},
//   continuum_router_hedge_delay_scale{node}
//   continuum_gateway_topology_updates_total               topologies applied after the first
//   continuum_gateway_topology_nodes                       nodes in the topology now
//   continuum_gateway_topology_last_update_timestamp_seconds  when the topology was last applied
// Nodes added by a later topology get their children then (AddNodes); a removed node's children
// stay (counters never go back), its continuum_router_node_up at 0.
struct GatewayMetrics {
  GatewayMetrics(telemetry::Registry& registry, const router::Topology& topology);
  // Children for the nodes of `topology` that have none yet, and the topology gauges; counts an
  // update unless `initial`. Thread-safe with Find and Refresh.
  void AddNodes(const router::Topology& topology, bool initial = false);
  struct PerNode {
    telemetry::Counter *first, *fallback, *hedge;
    telemetry::Histogram* duration;
    telemetry::Gauge *up, *rtt, *bandwidth, *hedge_scale;
    telemetry::Counter *failed_tls, *failed_connect, *failed_timeout, *failed_error;
    // The counter of a failed attempt's reason.
    telemetry::Counter* FailureCounter(const Status& why) const;
  };
  // The node's children; stable (children are never removed), null for a node never in a topology.
  const PerNode* Find(std::string_view node) const;
  void Refresh(const router::Router& router);  // the gauges, from the router's current view
  mutable std::mutex mu;                       // guards `nodes` against AddNodes
  std::map<std::string, PerNode, std::less<>> nodes;
  telemetry::Family<telemetry::Counter>*answers, *attempt_failures;
  telemetry::Family<telemetry::Histogram>* duration;
  telemetry::Family<telemetry::Gauge>*up, *rtt, *bandwidth, *hedge_scale;
  telemetry::Counter* topology_updates;
  telemetry::Gauge *topology_nodes, *topology_updated;
  telemetry::Counter* failures;
  telemetry::Counter *hedge_due, *hedge_sent, *hedge_no_budget, *hedge_no_target, *hedge_won, *hedge_explore;
};

class LocalEndpoint;
namespace internal {
class RouterReports;
class InFlight;
}  // namespace internal

class Gateway {
 public:
  // `router` must outlive the gateway; `log` may be null.
  Gateway(router::Router* router, router::DecisionLog* log, GatewayOptions options = {});
  ~Gateway();  // stops probing and the upstream client
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // An http::Handler; never blocks.
  void Handle(http::Request&& request, http::Responder respond);

  // Applies a new topology (`continuum gateway --hub`): the TLS contexts of its https:// nodes
  // first (those whose settings did not change are kept), then Router::SetTopology, then the
  // metrics of its new nodes. Requests already dispatched go on with the nodes they were planned
  // with. A node whose TLS files fail to load: InvalidArgument naming it, and nothing changes.
  // Thread-safe; updates are applied one at a time.
  Status SetTopology(router::Topology topology);

 private:
  void ProbeLoop();
  // The TLS settings of the current topology's nodes; null until the first SetTopology (the
  // client's own settings, from the options, apply).
  std::shared_ptr<const UpstreamTls> UpstreamTlsNow() const;
  std::mutex update_mu_;  // one SetTopology at a time
  mutable std::mutex tls_mu_;
  std::shared_ptr<const UpstreamTls> tls_;  // guarded by tls_mu_
  UpstreamTls tls_start_;                   // the options' contexts with their blocks
  router::Router* router_;
  router::DecisionLog* log_;
  GatewayOptions options_;
  std::atomic<uint64_t> next_id_{1};
  // The router as the request path reports to it, and the copies in flight on each node.
  std::unique_ptr<internal::RouterReports> reports_;
  std::unique_ptr<internal::InFlight> inflight_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::unique_ptr<http::Client> client_;
  std::shared_ptr<LocalEndpoint> local_;     // null without options.local_handler
  std::shared_ptr<GatewayMetrics> metrics_;  // null without options.metrics
  std::thread prober_;
};

// Model and version of a routed path; NotFound for any other path.
struct RouteTarget {
  std::string model;
  int64_t version = 0;
  bool v2 = false;
};
StatusOr<RouteTarget> MatchRoute(std::string_view path);

// The policy carried by a request: body `parameters` (v2: only the JSON header part, whose
// length is in `inference-header-content-length` when present) merged under the header.
// A body that is not JSON carries no policy.
StatusOr<router::Policy> RequestPolicy(const http::Request& request, bool v2);

// ASCII printable, at most 200 characters.
std::string HeaderSafe(std::string_view s);

}  // namespace continuum::gateway
