// GET /api/v1/dashboard: the one document the web page (web/dashboard/index.html) draws: nodes,
// models per node, deployments with their rollouts, the latest events, and request rate, error
// rate and p95 latency per tier over the last minute (from the nodes' own counters).
#include <cmath>

#include "fleet/hub/hub_impl.h"

namespace continuum::fleet {
namespace {

constexpr int64_t kTierWindowMs = 60000;

struct TierStats {
  double success = 0, failure = 0;
  Buckets buckets;
};

std::string TierOf(const hub::NodeState& n) {
  Properties p = n.Merged();
  auto it = p.find("tier");
  return it == p.end() ? "unknown" : PropertyToString(it->second);
}

void WriteTiers(JsonWriter& w, const std::map<std::string, hub::NodeState>& nodes, int64_t now) {
  std::map<std::string, TierStats> tiers;
  for (const auto& [name, n] : nodes) {
    TierStats& t = tiers[TierOf(n)];
    for (const auto& m : n.report.models) {
      ModelObservation o = hub::Observe(n, m.name, now - kTierWindowMs, true);
      t.success += o.success;
      t.failure += o.failure;
      if (!o.buckets.empty()) t.buckets = t.buckets.empty() ? o.buckets : AddBuckets(t.buckets, o.buckets);
    }
  }
  w.BeginArray();
  for (const auto& [tier, t] : tiers) {
    double total = t.success + t.failure;
    double p95 = t.buckets.empty() ? NAN : HistogramQuantile(t.buckets, 0.95);
    w.BeginObject()
        .Key("tier")
        .String(tier)
        .Key("requests_per_second")
        .Double(total / (kTierWindowMs / 1000.0));
    w.Key("error_rate").Double(total > 0 ? t.failure / total : 0);
    w.Key("p95_ms");
    if (std::isfinite(p95))
      w.Double(p95 * 1000);
    else
      w.Null();
    w.EndObject();
  }
  w.EndArray();
}

}  // namespace

std::string Hub::Impl::DashboardJson(int64_t now) {
  std::string body;
  JsonWriter w(&body);
  w.BeginObject().Key("now_ms").Int(now).Key("replica").String(opt.replica_id).Key("leader").Bool(leader);
  w.Key("nodes").BeginArray();
  for (const auto& [name, n] : nodes) {
    w.BeginObject().Key("name").String(name).Key("fresh").Bool(Fresh(n, now)).Key("tier").String(TierOf(n));
    w.Key("address")
        .String(n.report.address)
        .Key("state")
        .String(n.report.state)
        .Key("message")
        .String(n.report.message);
    w.Key("last_seen_ms")
        .Int(n.last_seen_ms)
        .Key("sequence")
        .Int(n.report.sequence)
        .Key("desired_sequence")
        .Int(n.sequence);
    w.Key("properties").BeginObject();
    for (const auto& [k, v] : n.Merged()) w.Key(k).String(PropertyToString(v));
    w.EndObject().Key("models").BeginArray();
    for (const auto& m : n.report.models) {
      w.BeginObject().Key("name").String(m.name).Key("digest").String(m.digest).Key("ready").Bool(m.ready);
      w.Key("error").String(m.error).Key("versions").BeginArray();
      for (int64_t v : m.versions) w.Int(v);
      w.EndArray().EndObject();
    }
    w.EndArray().EndObject();
  }
  w.EndArray().Key("deployments").BeginArray();
  for (const auto& [name, d] : deployments) {
    w.BeginObject().Key("name").String(name).Key("package").String(d.package).Key("digest").String(d.digest);
    w.Key("model")
        .String(d.model)
        .Key("constraint")
        .String(d.constraint)
        .Key("stable_digest")
        .String(d.stable_digest);
    w.Key("generation").Int(d.generation).Key("rollout");
    auto it = rollouts.find(name);
    if (it == rollouts.end()) {
      w.Null();
    } else {
      const Rollout& r = it->second.rollout;
      w.BeginObject().Key("phase").String(RolloutPhaseName(r.phase)).Key("reason").String(r.reason);
      w.Key("from_digest")
          .String(r.from_digest)
          .Key("to_digest")
          .String(r.to_digest)
          .Key("batches")
          .BeginArray();
      for (const auto& b : r.batches) {
        w.BeginObject()
            .Key("state")
            .String(BatchStateName(b.state))
            .Key("reason")
            .String(b.reason)
            .Key("nodes")
            .BeginArray();
        for (const auto& n : b.nodes) w.String(n);
        w.EndArray().EndObject();
      }
      w.EndArray().Key("failed_nodes").BeginArray();
      for (const auto& n : r.failed_nodes) w.String(n);
      w.EndArray().EndObject();
    }
    w.EndObject();
  }
  w.EndArray().Key("tiers");
  WriteTiers(w, nodes, now);
  w.Key("events").BeginArray();
  for (auto e = recent_events.rbegin(); e != recent_events.rend(); ++e)
    w.BeginObject()
        .Key("id")
        .Int(e->id)
        .Key("at_ms")
        .Int(e->at_ms)
        .Key("subject")
        .String(e->subject)
        .Key("kind")
        .String(e->kind)
        .Key("reason")
        .String(e->reason)
        .EndObject();
  w.EndArray().EndObject();
  return body;
}

}  // namespace continuum::fleet
