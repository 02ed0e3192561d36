#include "router/router.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <type_traits>
#include <utility>

#include "router/estimators.h"

namespace continuum::router {
namespace {

// Appends `v` in milliseconds as the reason shows it: one decimal below 10, none above or for a
// whole number. std::to_chars, straight into the reason: formatted on every decision (the reason
// header), and several times faster than snprintf's locale-aware path.
void AppendMs(std::string& s, double v) {
  char buf[32];
  const int precision = v >= 10 || v == std::floor(v) ? 0 : 1;
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, precision);
  if (ec == std::errc()) {
    s.append(buf, end);
  } else {
    s.push_back('?');
  }
}

// Appends the parts in order: string-likes as they are, doubles through AppendMs.
template <class... Parts>
void Append(std::string& s, const Parts&... parts) {
  auto one = [&s](const auto& part) {
    if constexpr (std::is_same_v<std::decay_t<decltype(part)>, double>) {
      AppendMs(s, part);
    } else {
      s.append(part);
    }
  };
  (one(parts), ...);
}

std::string Reason(const Decision& d, Objective objective) {
  const Candidate& c = d.candidates[0];
  std::string s;
  s.reserve(160);
  Append(s, c.node, ": predicted ", c.predicted_ms, " ms (rtt ", c.rtt_ms);
  if (c.transfer_ms >= 0.05) Append(s, " + transfer ", c.transfer_ms);
  if (c.queue_ms >= 0.05) Append(s, " + queue ", c.queue_ms);
  Append(s, " + compute ", c.compute_ms, ")");
  if (d.candidates.size() > 1) {
    const Candidate& r = d.candidates[1];
    Append(s, " vs ", r.node, " ", r.predicted_ms, " ms");
  } else {
    s += ", the only candidate";
  }
  Append(s, "; objective ", ObjectiveName(objective));
  if (objective == Objective::kCheapest) {
    char buf[48];
    std::snprintf(buf, sizeof buf, " (cost %.3g)", c.cost);
    s += buf;
  } else if (objective == Objective::kLeastEnergy) {
    char buf[48];
    std::snprintf(buf, sizeof buf, " (%.3g J)", c.energy_j);
    s += buf;
  }
  if (d.policy.latency_target_ms) {
    s += c.within_target ? "; within target " : "; no node within target ";
    Append(s, *d.policy.latency_target_ms, " ms");
  }
  if (d.policy.residency) Append(s, "; residency ", *d.policy.residency);
  return s;
}

}  // namespace

Router::Router(Topology topology, RouterOptions options) : options_(std::move(options)) {
  if (!options_.clock) options_.clock = [] { return std::chrono::system_clock::now(); };
  started_ = options_.clock();
  est_ = std::make_unique<Estimators>(options_.compute_window, options_.default_rtt_ms,
                                      options_.default_bandwidth_mbps, options_.clock);
  MutexLock lock(mu_);
  std::set<std::string, std::less<>> all;
  for (const auto& n : topology.nodes) {
    health_.emplace(n.name, Health{});
    all.insert(n.name);
  }
  SeedLocked(topology, all);
  topology_ = std::make_shared<const Topology>(std::move(topology));
}

void Router::SeedLocked(const Topology& t, const std::set<std::string, std::less<>>& fresh) {
  std::set<std::string, std::less<>> names;
  for (const auto& n : t.nodes) names.insert(n.name);
  est_->Restrict(std::move(names));
  for (const auto& n : t.nodes) {
    const bool is_fresh = fresh.count(n.name) > 0;
    for (const auto& m : n.models) {
      if (is_fresh) {
        est_->SeedCompute(n.name, m.name, m.compute_ms);
      } else {
        est_->SeedComputeIfAbsent(n.name, m.name, m.compute_ms);
      }
    }
  }
  // Links from the origin seed the estimate; a link into the origin is used when no outbound is
  // given. A node that stays keeps what was learned of its link: the declared one becomes only
  // what ResetLink returns to.
  auto seed = [&](const std::string& node, const Link& l) {
    if (fresh.count(node)) {
      est_->SeedLink(node, l.rtt_ms, l.bandwidth_mbps);
    } else {
      est_->SetLinkSeed(node, l.rtt_ms, l.bandwidth_mbps);
    }
  };
  for (const auto& l : t.links) {
    if (l.to == t.origin && t.FindNode(l.from)) seed(l.from, l);
  }
  for (const auto& l : t.links) {
    if (l.from == t.origin && t.FindNode(l.to)) seed(l.to, l);
  }
}

void Router::SetTopology(Topology topology) {
  auto next = std::make_shared<const Topology>(std::move(topology));
  std::shared_ptr<const Topology> old;  // released outside the lock
  MutexLock lock(mu_);
  std::set<std::string, std::less<>> fresh;
  std::map<std::string, Health, std::less<>> health;
  for (const auto& n : next->nodes) {
    auto it = health_.find(n.name);
    if (it == health_.end()) {
      fresh.insert(n.name);
      health.emplace(n.name, Health{});
    } else {
      health.emplace(n.name, it->second);
    }
  }
  health_ = std::move(health);
  for (auto it = answers_.begin(); it != answers_.end();) {
    it = next->FindNode(it->first) ? std::next(it) : answers_.erase(it);
  }
  SeedLocked(*next, fresh);
  old = std::exchange(topology_, std::move(next));
}

std::shared_ptr<const Topology> Router::topology() const {
  MutexLock lock(mu_);
  return topology_;
}

Router::~Router() = default;

std::vector<Candidate> Router::CandidatesLocked(const Request& request, const Policy& p, bool* any_holder,
                                                bool* any_resident) {
  const double bytes =
      static_cast<double>(request.input_bytes) + static_cast<double>(request.expected_output_bytes);
  const auto now = options_.clock();
  std::vector<Candidate> out;
  for (const auto& n : topology_->nodes) {
    const ModelHolding* m = n.FindModel(request.model, request.version);
    if (!m) continue;
    *any_holder = true;
    if (p.residency && !n.Satisfies(*p.residency)) continue;  // fail closed
    *any_resident = true;
    Health& health = health_[n.name];
    if (health.ejected) continue;
    Candidate c;
    c.node = n.name;
    c.tier = n.tier;
    auto link = est_->Link(n.name);
    auto compute = est_->Compute(n.name, request.model, m->compute_ms);
    double depth = est_->QueueDepth(n.name);
    c.rtt_ms = link.rtt_ms;
    c.transfer_ms = bytes * 8.0 / 1e6 / std::max(link.bandwidth_mbps, 1e-9) * 1000.0;
    c.compute_ms = compute.median_ms;
    c.queue_ms = std::max(depth * compute.median_ms, health.outstanding_work_ms) / std::max(1, m->instances);
    c.p95_ms = c.rtt_ms + c.transfer_ms + c.queue_ms + std::max(compute.p95_ms, compute.median_ms);
    if (const auto& due = health.earliest_due) {
      // An answer overdue beyond its p95: the node is held up; expect it to last overdue_weight
      // times as long again (a stall's length is heavy-tailed: the longer it has lasted, the
      // longer it is likely to go on).
      const double overdue = std::chrono::duration<double, std::milli>(now - *due).count();
      if (overdue > 0) {
        c.queue_ms += options_.overdue_weight * overdue;
        c.p95_ms += options_.overdue_weight * overdue;
      }
    }
    c.predicted_ms = c.rtt_ms + c.transfer_ms + c.queue_ms + c.compute_ms;
    double seconds = compute.median_ms / 1000.0;
    c.cost = seconds * n.cost_per_compute_second;
    c.energy_j = seconds * n.energy_per_compute_second;
    c.within_target = !p.latency_target_ms || c.predicted_ms <= *p.latency_target_ms;
    out.push_back(std::move(c));
  }
  return out;
}

Policy Router::EffectivePolicy(const Request& request) const {
  auto def = topology_->model_defaults.find(request.model);
  return def == topology_->model_defaults.end() ? request.policy : MergePolicy(def->second, request.policy);
}

Status Router::CheckResidencyLocked(const Policy& p) const {
  if (!p.residency || topology_->KnowsResidency(*p.residency)) return Status();
  std::string known;
  for (const auto& c : topology_->residency_classes) known += (known.empty() ? "" : ", ") + c;
  return InvalidArgument("policy.residency: unknown residency class '" + *p.residency +
                         "' (known: " + (known.empty() ? "none" : known) + ")");
}

StatusOr<Decision> Router::Decide(const Request& request) {
  Decision d;
  MutexLock lock(mu_);
  d.topology = topology_;
  d.policy = EffectivePolicy(request);
  const Policy& p = d.policy;
  RETURN_IF_ERROR(CheckResidencyLocked(p));
  const Objective objective = p.objective.value_or(Objective::kFastest);

  bool any_holder = false;
  bool any_resident = false;
  d.candidates = CandidatesLocked(request, p, &any_holder, &any_resident);
  // Named only in a refusal: not built for the decisions that place the request.
  auto what = [&request] {
    return "model '" + request.model + "'" +
           (request.version ? " version " + std::to_string(request.version) : std::string());
  };
  if (!any_holder) return NotFound("no node holds " + what());
  if (!any_resident) {
    return Unavailable("no candidate: no node holding " + what() + " satisfies residency class '" +
                       *p.residency + "'");
  }
  if (d.candidates.empty()) {
    return Unavailable("no candidate: every node holding " + what() +
                       (p.residency ? " in residency class '" + *p.residency + "'" : std::string()) +
                       " is ejected as unhealthy");
  }

  // Ranking: nodes within the latency target first (all are when there is none), then the
  // preferred tier, then the objective's metric; outside the target, predicted time decides.
  auto key = [&](const Candidate& c) {
    int group = c.within_target ? 0 : 1;
    int tier = p.prefer_tier && c.tier != *p.prefer_tier ? 1 : 0;
    if (!c.within_target) tier = 0;
    double metric = c.predicted_ms;
    if (c.within_target) {
      if (objective == Objective::kCheapest) metric = c.cost;
      if (objective == Objective::kLeastEnergy) metric = c.energy_j;
    }
    return std::tuple(group, tier, metric, c.predicted_ms);
  };
  // Node names are unique, so the order is total and a plain sort gives what a stable one would,
  // without the temporary buffer std::stable_sort allocates on every decision.
  std::sort(d.candidates.begin(), d.candidates.end(), [&](const Candidate& a, const Candidate& b) {
    auto ka = key(a), kb = key(b);
    if (ka != kb) return ka < kb;
    return a.node < b.node;
  });
  d.choice = d.candidates[0].node;
  d.url = topology_->FindNode(d.choice)->url;
  for (size_t i = 1; i < d.candidates.size(); ++i) d.fallbacks.push_back(d.candidates[i].node);

  hedge_tokens_ = std::min(options_.hedge_burst, hedge_tokens_ + options_.hedge_fraction);
  if (p.hedge.value_or(false) && !d.fallbacks.empty()) {
    d.hedge = Hedge{d.fallbacks[0], d.candidates[0].p95_ms * ScaleLocked(d.choice)};
  } else {
    d.hedge = ExploreLocked(request, d);
  }
  d.reason = Reason(d, objective);
  if (d.hedge && d.hedge->explore) {
    Append(d.reason, "; explore ", d.hedge->node, " (bandwidth estimate stale)");
  } else if (d.hedge) {
    Append(d.reason, "; hedge ", d.hedge->node, " after ", d.hedge->delay_ms, " ms");
  }
  return d;
}

std::optional<Hedge> Router::ExploreLocked(const Request& request, const Decision& d) {
  if (options_.explore_after.count() <= 0 || hedge_tokens_ < 1.0) return std::nullopt;
  if (request.input_bytes + request.expected_output_bytes < options_.explore_min_bytes) return std::nullopt;
  const auto now = options_.clock();
  for (size_t i = 1; i < d.candidates.size(); ++i) {  // ranked; [0] is the choice
    const Candidate& c = d.candidates[i];
    const auto sample = est_->LastBandwidthSample(c.node);
    const auto sampled = sample ? std::max(sample->at, started_) : started_;
    Health& h = health_[c.node];
    if (now - sampled < options_.explore_after || now - h.last_explored < options_.explore_after) continue;
    if (sample && c.rtt_ms > options_.explore_rtt_share * sample->rtt_ms) continue;  // no better than then
    h.last_explored = now;
    hedge_tokens_ -= 1.0;
    return Hedge{c.node, 0.0, true};
  }
  return std::nullopt;
}

std::optional<std::string> Router::PickHedge(const Request& request, const std::vector<std::string>& busy) {
  MutexLock lock(mu_);
  const Policy p = EffectivePolicy(request);
  if (p.residency && !topology_->KnowsResidency(*p.residency)) return std::nullopt;
  bool any_holder = false, any_resident = false;
  const Candidate* best = nullptr;
  auto candidates = CandidatesLocked(request, p, &any_holder, &any_resident);
  for (const auto& c : candidates) {
    if (std::find(busy.begin(), busy.end(), c.node) != busy.end()) continue;
    if (!best || c.predicted_ms < best->predicted_ms) best = &c;
  }
  if (!best) return std::nullopt;
  return best->node;
}

bool Router::TryStartHedge() {
  MutexLock lock(mu_);
  if (hedge_tokens_ < 1.0) return false;
  hedge_tokens_ -= 1.0;
  return true;
}

void Router::AnswerTimes::Observe(double ratio, double due_share) {
  if (ratios.size() < kAnswerWindow) {
    ratios.push_back(ratio);
  } else {
    ratios[next] = ratio;
  }
  next = (next + 1) % kAnswerWindow;
  if (++since_scale < 16 || !learned()) return;
  since_scale = 0;
  std::vector<double> sorted = ratios;
  const size_t k =
      static_cast<size_t>((1.0 - std::clamp(due_share, 0.0, 1.0)) * static_cast<double>(sorted.size() - 1));
  std::nth_element(sorted.begin(), sorted.begin() + k, sorted.end());
  scale = std::clamp(sorted[k], 0.25, 64.0);
}

void Router::ObserveAnswer(std::string_view node, double elapsed_ms, double p95_ms) {
  if (!(elapsed_ms >= 0) || !(p95_ms > 0) || !std::isfinite(elapsed_ms) || !std::isfinite(p95_ms)) return;
  const double ratio = elapsed_ms / p95_ms;
  MutexLock lock(mu_);
  if (health_.find(node) == health_.end()) return;  // not (or no longer) in the topology
  auto it = answers_.find(node);
  if (it == answers_.end()) it = answers_.emplace(std::string(node), AnswerTimes{}).first;
  it->second.Observe(ratio, options_.hedge_due_share);
  all_answers_.Observe(ratio, options_.hedge_due_share);
}

double Router::ScaleLocked(std::string_view node) const {
  auto it = answers_.find(node);
  return it != answers_.end() && it->second.learned() ? it->second.scale : all_answers_.scale;
}

double Router::HedgeDelayScale(std::string_view node) const {
  MutexLock lock(mu_);
  return ScaleLocked(node);
}

bool Router::IsEjected(std::string_view node) const {
  MutexLock lock(mu_);
  auto it = health_.find(node);
  return it != health_.end() && it->second.ejected;
}

void Router::ReportSuccess(std::string_view node) {
  MutexLock lock(mu_);
  auto it = health_.find(node);
  if (it == health_.end()) return;
  it->second.consecutive_failures = 0;
  it->second.last_answer = options_.clock();
}

void Router::ReportFailure(std::string_view node) {
  MutexLock lock(mu_);
  auto it = health_.find(node);
  if (it == health_.end()) return;
  if (++it->second.consecutive_failures >= options_.eject_after_failures && !it->second.ejected) {
    it->second.ejected = true;
    it->second.last_probe = options_.clock();
  }
}

void Router::ProbeResult(std::string_view node, bool ok, std::optional<double> rtt_ms) {
  bool readmitted = false;
  {
    MutexLock lock(mu_);
    auto it = health_.find(node);
    if (it == health_.end()) return;
    it->second.last_probe = options_.clock();
    if (ok) {
      readmitted = it->second.ejected;
      it->second.ejected = false;
      it->second.consecutive_failures = 0;
      it->second.last_answer = it->second.last_probe;
    }
  }
  // A node back from an outage: what was learned of its link before says nothing of it now.
  if (readmitted) {
    est_->ResetLink(node, rtt_ms);
  } else if (ok && rtt_ms) {
    est_->ObserveRtt(node, *rtt_ms);
  }
}

bool Router::IsHealthy(std::string_view node) const {
  MutexLock lock(mu_);
  auto it = health_.find(node);
  return it != health_.end() && !it->second.ejected;
}

std::vector<std::string> Router::NodesToProbe() {
  MutexLock lock(mu_);
  std::vector<std::string> out;
  auto now = options_.clock();
  for (auto& [name, h] : health_) {
    if (h.ejected && now - h.last_probe >= options_.probe_interval) {
      out.push_back(name);
      h.last_probe = now;
    }
  }
  return out;
}

std::vector<std::string> Router::NodesToRefresh() {
  MutexLock lock(mu_);
  std::vector<std::string> out;
  if (options_.refresh_interval.count() <= 0) return out;
  auto now = options_.clock();
  for (auto& [name, h] : health_) {
    if (!h.ejected && now - h.last_answer >= options_.refresh_interval) {
      out.push_back(name);
      h.last_answer = now;
    }
  }
  return out;
}

void Router::ObserveTransfer(std::string_view node, uint64_t bytes, double duration_ms, bool explored) {
  est_->ObserveTransfer(node, bytes, duration_ms, explored);
}
void Router::ObserveRtt(std::string_view node, double rtt_ms) { est_->ObserveRtt(node, rtt_ms); }
void Router::ObserveCompute(std::string_view node, std::string_view model, double compute_ms) {
  est_->ObserveCompute(node, model, compute_ms);
}
void Router::ReportQueueDepth(std::string_view node, double depth) { est_->ReportQueueDepth(node, depth); }

void Router::ReportEarliestDue(std::string_view node,
                               std::optional<std::chrono::system_clock::time_point> due) {
  MutexLock lock(mu_);
  if (auto it = health_.find(node); it != health_.end()) it->second.earliest_due = due;
}

void Router::ReportOutstanding(std::string_view node,
                               std::optional<std::chrono::system_clock::time_point> due, double work_ms) {
  MutexLock lock(mu_);
  if (auto it = health_.find(node); it != health_.end()) {
    it->second.earliest_due = due;
    it->second.outstanding_work_ms = std::isfinite(work_ms) ? std::max(0.0, work_ms) : 0.0;
  }
}

double Router::EstimatedRttMs(std::string_view node) const { return est_->Link(node).rtt_ms; }
double Router::EstimatedBandwidthMbps(std::string_view node) const { return est_->Link(node).bandwidth_mbps; }
double Router::EstimatedComputeMs(std::string_view node, std::string_view model) const {
  return est_->Compute(node, model, 0).median_ms;
}
double Router::EstimatedComputeP95Ms(std::string_view node, std::string_view model) const {
  return est_->Compute(node, model, 0).p95_ms;
}

}  // namespace continuum::router
