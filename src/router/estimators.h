// Online estimates the placement predicts from: link round trip and bandwidth, compute time per
// (model, node) with a p95, and the queue depth each node reports. Thread-safe.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "router/router.h"

namespace continuum::router {

// The last `window` samples (at most kMaxWindow) and quantiles of them. The median is what the
// router predicts from: for a link, a sample inflated by a stall (an answer held by a partition
// that lasted seconds) or a lost packet's retransmission moves it not at all, while a real change
// of the link takes over as soon as it holds half the window. For compute, the 95th percentile of
// a window of 24 ignores a single straggler (it interpolates between the 22nd and 23rd of 24
// sorted samples), where a mean + 1.645 sd estimate would jump by several times the straggler's
// delay, stay there until the node is chosen again, and lengthen hedge delays and attempt
// timeouts just when they matter.
class WindowQuantile {
 public:
  static constexpr size_t kMaxWindow = 32;
  explicit WindowQuantile(size_t window = 9) : window_(std::clamp<size_t>(window, 1, kMaxWindow)) {}
  // Clears the window and takes `v` as its only sample.
  void Seed(double v) {
    n_ = 0;
    Observe(v);
  }
  // The window is also kept sorted, one insertion per sample (the router reads quantiles on
  // every decision, far more often than most windows change).
  void Observe(double x) {
    if (n_ == window_) {  // the oldest sample, at next_, leaves the sorted copy
      const double old = samples_[next_];
      auto* at = std::find_if(sorted_.begin(), sorted_.begin() + n_,
                              [old](double v) { return v == old || (v != v && old != old); });
      std::copy(at + 1, sorted_.begin() + n_, at);
      --n_;
    }
    samples_[next_] = x;
    next_ = (next_ + 1) % window_;
    auto* at = std::upper_bound(sorted_.begin(), sorted_.begin() + n_, x);
    std::copy_backward(at, sorted_.begin() + n_, sorted_.begin() + n_ + 1);
    *at = x;
    ++n_;
  }
  bool has_value() const { return n_ > 0; }
  size_t count() const { return n_; }
  // The q-quantile (0 <= q <= 1) of the samples in the window, interpolated between order
  // statistics (q = 0.5 is the median); 0 when there are none.
  double Quantile(double q) const { return n_ == 0 ? 0.0 : Interpolate(q); }
  double value() const { return Quantile(0.5); }
  // Several quantiles at once: out[i] = Quantile(qs[i]).
  template <size_t N>
  std::array<double, N> Quantiles(const std::array<double, N>& qs) const {
    std::array<double, N> out{};
    for (size_t k = 0; k < N; ++k) out[k] = Quantile(qs[k]);
    return out;
  }

 private:
  // The q-quantile of the n_ > 0 sorted samples.
  double Interpolate(double q) const {
    const double pos = std::clamp(q, 0.0, 1.0) * static_cast<double>(n_ - 1);
    const size_t lo = static_cast<size_t>(pos);
    const size_t hi = std::min(lo + 1, n_ - 1);
    return sorted_[lo] + (sorted_[hi] - sorted_[lo]) * (pos - static_cast<double>(lo));
  }

  size_t window_;
  std::array<double, kMaxWindow> samples_{};  // a ring: the last n_ samples end just before next_
  std::array<double, kMaxWindow> sorted_{};   // the same n_ samples, ascending
  size_t next_ = 0, n_ = 0;
};

class Estimators {
 public:
  // `compute_window`: how many recent runs per (node, model) the compute median and p95 are
  // taken over (at most WindowQuantile::kMaxWindow).
  Estimators(size_t compute_window, double default_rtt_ms, double default_bandwidth_mbps, Clock clock)
      : compute_window_(compute_window),
        default_rtt_(default_rtt_ms),
        default_bw_(default_bandwidth_mbps),
        clock_(std::move(clock)) {}

  void SeedLink(const std::string& node, double rtt_ms, double bandwidth_mbps);
  // Remembers the declared link ResetLink returns to, keeping what was learned of the link.
  void SetLinkSeed(const std::string& node, double rtt_ms, double bandwidth_mbps);
  // Keeps the estimates of `nodes` only (a new topology's) and from now on ignores observations
  // of any other node (the late answer of a node removed while a request to it was in flight).
  // Until the first call every node is taken.
  void Restrict(std::set<std::string, std::less<>> nodes);
  // Forgets what was learned of the node's link (after an outage it says nothing of the link
  // now): back to its seed (the declared link) or, without one, to the defaults; then `rtt_ms`,
  // when given, as the first observation.
  void ResetLink(std::string_view node, std::optional<double> rtt_ms);
  // The first compute sample for (node, model); it stays in the window until real runs push it out.
  void SeedCompute(const std::string& node, const std::string& model, double compute_ms);
  // SeedCompute unless the pair has samples already (a node that stays in a new topology).
  void SeedComputeIfAbsent(const std::string& node, const std::string& model, double compute_ms);

  void ObserveRtt(std::string_view node, double rtt_ms);
  // A transfer of `bytes` that took `duration_ms` end to end. Below kLatencySampleBytes it is an
  // rtt sample (the duration minus the bytes at the current bandwidth estimate); otherwise the
  // estimated rtt is subtracted before computing the bandwidth sample (at least 5% of the
  // duration is kept as transfer time).
  static constexpr uint64_t kLatencySampleBytes = 32 * 1024;
  // `restart`: a bandwidth sample replaces the window (the link changed; see Router).
  void ObserveTransfer(std::string_view node, uint64_t bytes, double duration_ms, bool restart = false);
  void ObserveCompute(std::string_view node, std::string_view model, double compute_ms);
  void ReportQueueDepth(std::string_view node, double depth);

  struct LinkView {
    double rtt_ms;
    double bandwidth_mbps;
  };
  // Engine time per run of a model on a node (queue wait excluded: the node reports its queue
  // depth on its own): the median and the 95th percentile of the last `compute_window` runs. With
  // fewer than kFewRuns runs (the seed from warm-up or the topology counts as one) the p95 is at
  // least 1.1645 x the median, the spread of a normal distribution with sd 10 % of the mean.
  static constexpr size_t kFewRuns = 8;
  static constexpr double kSeedP95Factor = 1.1644854;  // 1 + 1.645 x 0.1
  struct ComputeView {
    double median_ms;
    double p95_ms;
  };
  LinkView Link(std::string_view node) const;
  ComputeView Compute(std::string_view node, std::string_view model, double fallback_ms) const;
  double QueueDepth(std::string_view node) const;
  // When the node's estimates were last updated by an observation (epoch when never).
  std::chrono::system_clock::time_point LastUpdate(std::string_view node) const;
  // When the node's bandwidth estimate last took a sample, or was seeded or reset, and the rtt
  // estimate at that moment (nullopt: never, the bandwidth is the default).
  struct BandwidthSample {
    std::chrono::system_clock::time_point at;
    double rtt_ms;
  };
  std::optional<BandwidthSample> LastBandwidthSample(std::string_view node) const;

 private:
  // rtt: samples come often (every small exchange, probes), so a wide window; bandwidth: only
  // large exchanges sample it, and a link that drops 50x must show within a few of them.
  static constexpr size_t kRttWindow = 9, kBandwidthWindow = 5;
  struct LinkState {
    WindowQuantile rtt{kRttWindow};
    WindowQuantile bw{kBandwidthWindow};
    std::optional<BandwidthSample> bw_sample;
    void MarkBandwidth(std::chrono::system_clock::time_point now, double default_rtt_ms) {
      bw_sample = BandwidthSample{now, rtt.has_value() ? rtt.value() : default_rtt_ms};
    }
  };
  LinkState& LinkLocked(std::string_view node) REQUIRES(mu_);
  void Touch(std::string_view node) REQUIRES(mu_);
  bool KnownLocked(std::string_view node) const REQUIRES(mu_) {
    return !restricted_ || known_.find(node) != known_.end();
  }

  size_t compute_window_;
  double default_rtt_;
  double default_bw_;
  Clock clock_;
  mutable Mutex mu_;  // taken after Router::mu_ when both are held (see router.h)
  bool restricted_ GUARDED_BY(mu_) = false;
  std::set<std::string, std::less<>> known_ GUARDED_BY(mu_);
  std::map<std::string, LinkState, std::less<>> links_ GUARDED_BY(mu_);
  std::map<std::string, std::pair<double, double>, std::less<>> link_seeds_
      GUARDED_BY(mu_);  // rtt ms, Mbit/s
  // (node, model) pairs, looked up by a pair of string_views: no key strings built per decision.
  struct NodeModelLess {
    using is_transparent = void;
    template <class A, class B>
    bool operator()(const A& a, const B& b) const {
      const std::string_view an = a.first, bn = b.first;
      return an != bn ? an < bn : std::string_view(a.second) < std::string_view(b.second);
    }
  };
  std::map<std::pair<std::string, std::string>, WindowQuantile, NodeModelLess> compute_ GUARDED_BY(mu_);
  std::map<std::string, double, std::less<>> queue_ GUARDED_BY(mu_);
  std::map<std::string, std::chrono::system_clock::time_point, std::less<>> updated_ GUARDED_BY(mu_);
};

}  // namespace continuum::router
