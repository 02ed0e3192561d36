// GatewayMetrics: the families, one child per node of the topology made up front, so the request
// path only increments what it was handed.
#include <chrono>

#include "gateway/gateway.h"

namespace continuum::gateway {

GatewayMetrics::GatewayMetrics(telemetry::Registry& registry, const router::Topology& topology) {
  answers = &registry.AddCounter("continuum_gateway_answers_total",
                                 "Answers forwarded from a node, by node and by how they were won "
                                 "(first: the choice; fallback: a later candidate; hedge: the hedge copy)",
                                 {"node", "tier", "step"});
  duration = &registry.AddHistogram("continuum_gateway_request_duration_seconds",
                                    "From dispatch to the answer forwarded, by the node that answered",
                                    {"node", "tier"}, telemetry::DefaultLatencyBucketsSeconds());
  up = &registry.AddGauge("continuum_router_node_up", "1 while the node takes requests, 0 while ejected",
                          {"node"});
  rtt = &registry.AddGauge("continuum_router_rtt_seconds", "The router's round-trip estimate of the node",
                           {"node"});
  bandwidth = &registry.AddGauge("continuum_router_bandwidth_bytes_per_second",
                                 "The router's bandwidth estimate of the node's link", {"node"});
  hedge_scale = &registry.AddGauge(
      "continuum_router_hedge_delay_scale",
      "The node's hedge delay over its predicted p95 (adapts to its answer times)", {"node"});
  attempt_failures = &registry.AddCounter(
      "continuum_gateway_attempt_failures_total",
      "Attempts on a node that failed, by why: tls (the TLS handshake failed, e.g. its certificate was "
      "refused), connect (resolve or connect), timeout, error (a 5xx, a broken answer, a reset)",
      {"node", "reason"});
  topology_updates = &registry
                          .AddCounter("continuum_gateway_topology_updates_total",
                                      "Topologies applied after the first (from the hub)", {})
                          .WithLabels({});
  topology_nodes =
      &registry.AddGauge("continuum_gateway_topology_nodes", "Nodes in the topology now", {}).WithLabels({});
  topology_updated = &registry
                          .AddGauge("continuum_gateway_topology_last_update_timestamp_seconds",
                                    "When the topology now in use was applied (unix seconds)", {})
                          .WithLabels({});
  AddNodes(topology, true);
  failures =
      &registry
           .AddCounter("continuum_gateway_failures_total",
                       "Dispatched requests no node answered (all candidates failed, or the deadline passed)",
                       {})
           .WithLabels({});
  auto& hedges = registry.AddCounter(
      "continuum_gateway_hedges_total",
      "Hedges by what became of them: due (the choice had not answered after the hedge delay), sent, "
      "no_budget (the hedge budget had no token), no_target (no other node qualified), won, explore "
      "(a copy sent at once to a node whose bandwidth estimate went stale)",
      {"result"});
  hedge_due = &hedges.WithLabels({"due"});
  hedge_sent = &hedges.WithLabels({"sent"});
  hedge_no_budget = &hedges.WithLabels({"no_budget"});
  hedge_no_target = &hedges.WithLabels({"no_target"});
  hedge_won = &hedges.WithLabels({"won"});
  hedge_explore = &hedges.WithLabels({"explore"});
}

telemetry::Counter* GatewayMetrics::PerNode::FailureCounter(const Status& why) const {
  if (why.code() == StatusCode::kDeadlineExceeded) return failed_timeout;
  const std::string& m = why.message();
  if (m.rfind("TLS handshake", 0) == 0) return failed_tls;
  if (m.rfind("connect ", 0) == 0 || m.rfind("resolve ", 0) == 0) return failed_connect;
  return failed_error;
}

void GatewayMetrics::AddNodes(const router::Topology& topology, bool initial) {
  std::lock_guard<std::mutex> lock(mu);
  for (const auto& n : topology.nodes) {
    if (nodes.count(n.name)) continue;
    const std::string tier(router::TierName(n.tier));
    PerNode p;
    p.first = &answers->WithLabels({n.name, tier, "first"});
    p.fallback = &answers->WithLabels({n.name, tier, "fallback"});
    p.hedge = &answers->WithLabels({n.name, tier, "hedge"});
    p.duration = &duration->WithLabels({n.name, tier});
    p.up = &up->WithLabels({n.name});
    p.rtt = &rtt->WithLabels({n.name});
    p.bandwidth = &bandwidth->WithLabels({n.name});
    p.hedge_scale = &hedge_scale->WithLabels({n.name});
    p.failed_tls = &attempt_failures->WithLabels({n.name, "tls"});
    p.failed_connect = &attempt_failures->WithLabels({n.name, "connect"});
    p.failed_timeout = &attempt_failures->WithLabels({n.name, "timeout"});
    p.failed_error = &attempt_failures->WithLabels({n.name, "error"});
    nodes.emplace(n.name, p);
  }
  if (!initial) topology_updates->Increment();
  topology_nodes->Set(static_cast<double>(topology.nodes.size()));
  topology_updated->Set(
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count());
}

const GatewayMetrics::PerNode* GatewayMetrics::Find(std::string_view node) const {
  std::lock_guard<std::mutex> lock(mu);
  auto it = nodes.find(node);
  return it == nodes.end() ? nullptr : &it->second;
}

void GatewayMetrics::Refresh(const router::Router& router) {
  const auto topology = router.topology();
  std::lock_guard<std::mutex> lock(mu);
  for (auto& [name, p] : nodes) {
    p.up->Set(router.IsEjected(name) || !topology->FindNode(name) ? 0 : 1);
    p.rtt->Set(router.EstimatedRttMs(name) / 1000.0);
    p.bandwidth->Set(router.EstimatedBandwidthMbps(name) * 1e6 / 8.0);
    p.hedge_scale->Set(router.HedgeDelayScale(name));
  }
}

}  // namespace continuum::gateway
