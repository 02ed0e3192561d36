#include "router/estimators.h"

#include <algorithm>

namespace continuum::router {

Estimators::LinkState& Estimators::LinkLocked(std::string_view node) {
  auto it = links_.find(node);
  if (it == links_.end()) {
    it = links_.emplace(std::string(node), LinkState{}).first;
  }
  return it->second;
}

void Estimators::Touch(std::string_view node) {
  auto now = clock_();
  auto it = updated_.find(node);
  if (it == updated_.end()) {
    updated_.emplace(std::string(node), now);
  } else {
    it->second = now;
  }
}

void Estimators::SeedLink(const std::string& node, double rtt_ms, double bandwidth_mbps) {
  MutexLock lock(mu_);
  LinkState& l = LinkLocked(node);
  l.rtt.Seed(rtt_ms);
  l.bw.Seed(bandwidth_mbps);
  l.MarkBandwidth(clock_(), default_rtt_);
  link_seeds_[node] = {rtt_ms, bandwidth_mbps};
}

void Estimators::SetLinkSeed(const std::string& node, double rtt_ms, double bandwidth_mbps) {
  MutexLock lock(mu_);
  link_seeds_[node] = {rtt_ms, bandwidth_mbps};
}

namespace {
// Erases the entries of `m` whose node (`node_of(key)`) is not in `keep`.
template <class Map, class NodeOf>
void EraseOthers(Map& m, const std::set<std::string, std::less<>>& keep, NodeOf node_of) {
  for (auto it = m.begin(); it != m.end();) {
    if (keep.find(node_of(it->first)) == keep.end()) {
      it = m.erase(it);
    } else {
      ++it;
    }
  }
}
}  // namespace

void Estimators::Restrict(std::set<std::string, std::less<>> nodes) {
  MutexLock lock(mu_);
  auto self = [](const std::string& k) -> const std::string& { return k; };
  EraseOthers(links_, nodes, self);
  EraseOthers(link_seeds_, nodes, self);
  EraseOthers(queue_, nodes, self);
  EraseOthers(updated_, nodes, self);
  EraseOthers(compute_, nodes, [](const auto& k) -> const std::string& { return k.first; });
  known_ = std::move(nodes);
  restricted_ = true;
}

void Estimators::ResetLink(std::string_view node, std::optional<double> rtt_ms) {
  MutexLock lock(mu_);
  if (!KnownLocked(node)) return;
  LinkState& l = LinkLocked(node);
  l = LinkState{};
  if (auto it = link_seeds_.find(node); it != link_seeds_.end()) {
    l.rtt.Seed(it->second.first);
    l.bw.Seed(it->second.second);
  }
  if (rtt_ms && *rtt_ms >= 0 && std::isfinite(*rtt_ms)) l.rtt.Seed(*rtt_ms);
  l.MarkBandwidth(clock_(), default_rtt_);
  Touch(node);
}

void Estimators::SeedCompute(const std::string& node, const std::string& model, double compute_ms) {
  MutexLock lock(mu_);
  auto [it, inserted] = compute_.emplace(std::make_pair(node, model), WindowQuantile(compute_window_));
  it->second.Seed(compute_ms);
}

void Estimators::SeedComputeIfAbsent(const std::string& node, const std::string& model, double compute_ms) {
  MutexLock lock(mu_);
  auto [it, inserted] = compute_.emplace(std::make_pair(node, model), WindowQuantile(compute_window_));
  if (!it->second.has_value()) it->second.Seed(compute_ms);
}

void Estimators::ObserveRtt(std::string_view node, double rtt_ms) {
  if (!(rtt_ms >= 0) || !std::isfinite(rtt_ms)) return;
  MutexLock lock(mu_);
  if (!KnownLocked(node)) return;
  LinkLocked(node).rtt.Observe(rtt_ms);
  Touch(node);
}

void Estimators::ObserveTransfer(std::string_view node, uint64_t bytes, double duration_ms, bool restart) {
  if (!(duration_ms > 0) || !std::isfinite(duration_ms) || bytes == 0) return;
  MutexLock lock(mu_);
  if (!KnownLocked(node)) return;
  LinkState& l = LinkLocked(node);
  if (bytes < kLatencySampleBytes) {
    // A small exchange is latency, not bandwidth: it feeds the rtt estimate (minus its transfer
    // at the current bandwidth estimate), so the rtt follows the link without waiting for probes.
    const double bw = l.bw.has_value() ? l.bw.value() : default_bw_;
    const double transfer_ms = static_cast<double>(bytes) * 8.0 / 1e6 / std::max(bw, 1e-9) * 1000.0;
    l.rtt.Observe(std::max(0.0, duration_ms - transfer_ms));
    Touch(node);
    return;
  }
  double rtt = l.rtt.has_value() ? l.rtt.value() : default_rtt_;
  double transfer_ms = std::max(duration_ms - rtt, 0.05 * duration_ms);
  double mbps = static_cast<double>(bytes) * 8.0 / 1e6 / (transfer_ms / 1000.0);
  if (!std::isfinite(mbps)) return;  // a denormal duration: no rate to learn from
  if (restart) {
    l.bw.Seed(mbps);
  } else {
    l.bw.Observe(mbps);
  }
  l.MarkBandwidth(clock_(), default_rtt_);
  Touch(node);
}

void Estimators::ObserveCompute(std::string_view node, std::string_view model, double compute_ms) {
  if (!(compute_ms >= 0) || !std::isfinite(compute_ms)) return;
  MutexLock lock(mu_);
  if (!KnownLocked(node)) return;
  auto it = compute_.find(std::pair<std::string_view, std::string_view>(node, model));
  if (it == compute_.end()) {
    it = compute_
             .emplace(std::make_pair(std::string(node), std::string(model)), WindowQuantile(compute_window_))
             .first;
  }
  it->second.Observe(compute_ms);
  Touch(node);
}

void Estimators::ReportQueueDepth(std::string_view node, double depth) {
  if (!(depth >= 0) || !std::isfinite(depth)) return;
  MutexLock lock(mu_);
  if (!KnownLocked(node)) return;
  auto it = queue_.find(node);
  if (it == queue_.end()) {
    queue_.emplace(std::string(node), depth);
  } else {
    it->second = depth;
  }
  Touch(node);
}

Estimators::LinkView Estimators::Link(std::string_view node) const {
  MutexLock lock(mu_);
  LinkView v{default_rtt_, default_bw_};
  auto it = links_.find(node);
  if (it != links_.end()) {
    if (it->second.rtt.has_value()) v.rtt_ms = it->second.rtt.value();
    if (it->second.bw.has_value()) v.bandwidth_mbps = it->second.bw.value();
  }
  return v;
}

Estimators::ComputeView Estimators::Compute(std::string_view node, std::string_view model,
                                            double fallback_ms) const {
  MutexLock lock(mu_);
  auto it = compute_.find(std::pair<std::string_view, std::string_view>(node, model));
  if (it == compute_.end() || !it->second.has_value()) return {fallback_ms, fallback_ms * kSeedP95Factor};
  const auto [median, q95] = it->second.Quantiles<2>({0.5, 0.95});
  double p95 = q95;
  if (it->second.count() < kFewRuns) p95 = std::max(p95, median * kSeedP95Factor);
  return {median, p95};
}

double Estimators::QueueDepth(std::string_view node) const {
  MutexLock lock(mu_);
  auto it = queue_.find(node);
  return it == queue_.end() ? 0.0 : it->second;
}

std::chrono::system_clock::time_point Estimators::LastUpdate(std::string_view node) const {
  MutexLock lock(mu_);
  auto it = updated_.find(node);
  return it == updated_.end() ? std::chrono::system_clock::time_point{} : it->second;
}

std::optional<Estimators::BandwidthSample> Estimators::LastBandwidthSample(std::string_view node) const {
  MutexLock lock(mu_);
  auto it = links_.find(node);
  return it == links_.end() ? std::nullopt : it->second.bw_sample;
}

}  // namespace continuum::router
