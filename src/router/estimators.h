// Online estimates the placement predicts from: link round trip and bandwidth, compute time per
// (model, node) with a p95, and the queue depth each node reports. Thread-safe.
#pragma once

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "router/router.h"

namespace continuum::router {

// Exponentially weighted moving average; the first observation (or the seed) sets the value.
class Ewma {
 public:
  explicit Ewma(double alpha = 0.2) : alpha_(alpha) {}
  void Seed(double v) {
    value_ = v;
    has_ = true;
  }
  void Observe(double x) {
    value_ = has_ ? value_ + alpha_ * (x - value_) : x;
    has_ = true;
  }
  bool has_value() const { return has_; }
  double value() const { return value_; }

 private:
  double alpha_;
  double value_ = 0;
  bool has_ = false;
};

// Median of the last `window` samples (at most kMaxWindow). For a link: a sample inflated by a
// stall (an answer held by a partition that lasted seconds) or a lost packet's retransmission
// moves it not at all, while a real change of the link takes over as soon as it holds half the
// window.
class WindowMedian {
 public:
  static constexpr size_t kMaxWindow = 9;
  explicit WindowMedian(size_t window = kMaxWindow) : window_(std::clamp<size_t>(window, 1, kMaxWindow)) {}
  // Clears the window and takes `v` as its only sample.
  void Seed(double v) {
    n_ = 0;
    Observe(v);
  }
  void Observe(double x) {
    samples_[next_] = x;
    next_ = (next_ + 1) % window_;
    n_ = std::min(n_ + 1, window_);
  }
  bool has_value() const { return n_ > 0; }
  double value() const {
    std::array<double, kMaxWindow> s{};
    // The last n_ samples end just before next_.
    for (size_t i = 0; i < n_; ++i) s[i] = samples_[(next_ + window_ - 1 - i) % window_];
    std::sort(s.begin(), s.begin() + n_);
    return n_ % 2 ? s[n_ / 2] : (s[n_ / 2 - 1] + s[n_ / 2]) / 2;
  }

 private:
  size_t window_;
  std::array<double, kMaxWindow> samples_{};
  size_t next_ = 0, n_ = 0;
};

// EWMA of the mean and of the squared deviation (West's incremental form); p95 is taken as
// mean + 1.645 sd (normal approximation), never below the mean.
class MeanVarEwma {
 public:
  explicit MeanVarEwma(double alpha = 0.2) : alpha_(alpha) {}
  // A warm-up seed: mean `v`, spread 10% of it until real observations arrive.
  void Seed(double v) {
    mean_ = v;
    var_ = (0.1 * v) * (0.1 * v);
    has_ = true;
  }
  void Observe(double x) {
    if (!has_) {
      mean_ = x;
      var_ = 0;
      has_ = true;
      return;
    }
    double d = x - mean_;
    mean_ += alpha_ * d;
    var_ = (1 - alpha_) * (var_ + alpha_ * d * d);
  }
  bool has_value() const { return has_; }
  double mean() const { return mean_; }
  double variance() const { return var_; }
  double p95() const { return mean_ + 1.6448536 * std::sqrt(std::max(0.0, var_)); }

 private:
  double alpha_;
  double mean_ = 0;
  double var_ = 0;
  bool has_ = false;
};

class Estimators {
 public:
  Estimators(double alpha, double default_rtt_ms, double default_bandwidth_mbps, Clock clock)
      : alpha_(alpha),
        default_rtt_(default_rtt_ms),
        default_bw_(default_bandwidth_mbps),
        clock_(std::move(clock)) {}

  void SeedLink(const std::string& node, double rtt_ms, double bandwidth_mbps);
  // Forgets what was learned of the node's link (after an outage it says nothing of the link
  // now): back to its seed (the declared link) or, without one, to the defaults; then `rtt_ms`,
  // when given, as the first observation.
  void ResetLink(std::string_view node, std::optional<double> rtt_ms);
  void SeedCompute(const std::string& node, const std::string& model, double compute_ms);

  void ObserveRtt(std::string_view node, double rtt_ms);
  // A transfer of `bytes` that took `duration_ms` end to end. Below kLatencySampleBytes it is an
  // rtt sample (the duration minus the bytes at the current bandwidth estimate); otherwise the
  // estimated rtt is subtracted before computing the bandwidth sample (at least 5% of the
  // duration is kept as transfer time).
  static constexpr uint64_t kLatencySampleBytes = 32 * 1024;
  void ObserveTransfer(std::string_view node, uint64_t bytes, double duration_ms);
  void ObserveCompute(std::string_view node, std::string_view model, double compute_ms);
  void ReportQueueDepth(std::string_view node, double depth);

  struct LinkView {
    double rtt_ms;
    double bandwidth_mbps;
  };
  struct ComputeView {
    double mean_ms;
    double p95_ms;
  };
  LinkView Link(std::string_view node) const;
  ComputeView Compute(std::string_view node, std::string_view model, double fallback_ms) const;
  double QueueDepth(std::string_view node) const;
  // When the node's estimates were last updated by an observation (epoch when never).
  std::chrono::system_clock::time_point LastUpdate(std::string_view node) const;

 private:
  // rtt: samples come often (every small exchange, probes), so a wide window; bandwidth: only
  // large exchanges sample it, and a link that drops 50x must show within a few of them.
  static constexpr size_t kRttWindow = 9, kBandwidthWindow = 5;
  struct LinkState {
    WindowMedian rtt{kRttWindow};
    WindowMedian bw{kBandwidthWindow};
  };
  LinkState& LinkLocked(std::string_view node);
  void Touch(std::string_view node);

  double alpha_;
  double default_rtt_;
  double default_bw_;
  Clock clock_;
  mutable std::mutex mu_;
  std::map<std::string, LinkState, std::less<>> links_;
  std::map<std::string, std::pair<double, double>, std::less<>> link_seeds_;  // rtt ms, Mbit/s
  std::map<std::pair<std::string, std::string>, MeanVarEwma> compute_;
  std::map<std::string, double, std::less<>> queue_;
  std::map<std::string, std::chrono::system_clock::time_point, std::less<>> updated_;
};

}  // namespace continuum::router
