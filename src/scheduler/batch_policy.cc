#include "scheduler/batch_policy.h"

#include <algorithm>
#include <cmath>

namespace continuum {

namespace {

constexpr double kGapWeight = 1.0 / 16;      // EWMA weight of one arrival gap
constexpr double kRunForget = 1.0 / 32;      // forgetting of the run-time regression per run
constexpr double kLatenessWeight = 1.0 / 8;  // EWMA weight of one timed wake-up
constexpr double kMaxLatenessNs = 100'000;   // a wake-up later than this was a preemption
constexpr double kHandoffWeight = 1.0 / 8;   // EWMA weight of one hand-off
constexpr double kMaxHandoffNs = 1e6;        // a longer hand-off counts as 1 ms
constexpr double kMinRowsVariance = 0.25;    // below it, the runs' sizes cannot separate the costs

double ToNs(BatchPolicy::Clock::duration d) {
  return static_cast<double>(std::chrono::duration_cast<std::chrono::nanoseconds>(d).count());
}

BatchPolicy::Clock::duration FromNs(double ns) {
  return std::chrono::duration_cast<BatchPolicy::Clock::duration>(std::chrono::nanoseconds(std::llround(ns)));
}

}  // namespace

BatchPolicy::BatchPolicy(Options options) : options_(std::move(options)) {
  target_rows_ = std::max<int64_t>(1, options_.max_batch_size);
  if (!options_.preferred_batch_size.empty()) {
    target_rows_ = std::min(target_rows_, *std::max_element(options_.preferred_batch_size.begin(),
                                                            options_.preferred_batch_size.end()));
  }
}

void BatchPolicy::OnArrival(Clock::time_point t) {
  if (last_arrival_ && t >= *last_arrival_) {
    // A gap longer than twice the longest adaptive wait rules waiting out on its own; longer
    // idle periods count as that much.
    const double cap =
        2e3 * static_cast<double>(std::max<int64_t>(1, options_.max_adaptive_delay_microseconds));
    // The mean is taken over log(gap) (a geometric mean): requests come in bursts (one per
    // connection the I/O thread reads in a pass), and the gap that decides whether more are
    // coming is the one inside a burst, not the pause between bursts.
    const double log_gap = std::log(std::clamp(ToNs(t - *last_arrival_), 1.0, cap));
    log_gap_ = arrivals_ == 1 ? log_gap : log_gap_ + kGapWeight * (log_gap - log_gap_);
    gap_ns_ = std::exp(log_gap_);
    // The plain mean (1 / the arrival rate) says when the stream has paused.
    const double gap = std::clamp(ToNs(t - *last_arrival_), 1.0, cap);
    mean_gap_ns_ = arrivals_ == 1 ? gap : mean_gap_ns_ + kGapWeight * (gap - mean_gap_ns_);
  }
  if (!last_arrival_ || t > *last_arrival_) last_arrival_ = t;
  if (arrivals_ < 2) ++arrivals_;
}

void BatchPolicy::OnRun(int64_t rows, Clock::duration took) {
  const double x = static_cast<double>(std::max<int64_t>(1, rows));
  const double y = std::max(0.0, ToNs(took));
  const double keep = 1.0 - kRunForget;
  w_ = w_ * keep + 1;
  sx_ = sx_ * keep + x;
  sy_ = sy_ * keep + y;
  sxx_ = sxx_ * keep + x * x;
  sxy_ = sxy_ * keep + x * y;
  const double mx = sx_ / w_, my = sy_ / w_;
  const double var = sxx_ / w_ - mx * mx;
  if (var > kMinRowsVariance) {
    const double slope = std::clamp((sxy_ / w_ - mx * my) / var, 0.0, my / mx);
    last_intercept_ns_ = std::clamp(my - slope * mx, 0.0, my);
  }
}

void BatchPolicy::OnHandoff(Clock::duration took) {
  const double ns = std::clamp(ToNs(took), 0.0, kMaxHandoffNs);
  handoff_ns_ += kHandoffWeight * (ns - handoff_ns_);
}

void BatchPolicy::OnTimedWake(Clock::time_point asked, Clock::time_point woke) {
  const double late = std::clamp(ToNs(woke - asked), 0.0, kMaxLatenessNs);
  lateness_ns_ += kLatenessWeight * (late - lateness_ns_);
}

double BatchPolicy::mean_gap_us() const { return arrivals_ >= 2 ? gap_ns_ / 1e3 : 0; }

double BatchPolicy::handoff_us() const { return handoff_ns_ / 1e3; }

double BatchPolicy::fixed_cost_us() const { return w_ > 0 ? run_fixed_cost_us() + handoff_us() : 0; }

double BatchPolicy::run_fixed_cost_us() const {
  if (w_ <= 0) return 0;
  const double mx = sx_ / w_, my = sy_ / w_;
  // Runs of one size only: the cost found when sizes last differed (never above the mean run),
  // or, never having seen two sizes, the run's time per row (all of it for 1-row runs).
  const double ns = last_intercept_ns_ >= 0 ? std::min(last_intercept_ns_, my) : my / mx;
  return ns / 1e3;
}

double BatchPolicy::timer_lateness_us() const { return lateness_ns_ / 1e3; }

BatchPolicy::Decision BatchPolicy::Decide(Clock::time_point now, Clock::time_point head_enqueued,
                                          Clock::time_point free_since, int64_t rows,
                                          bool preferred_alone) const {
  Decision d;
  if (rows >= target_rows_ || (preferred_alone && rows > 1)) return d;
  // The next row count that changes the answer: a preferred size or the target.
  int64_t next_rows = target_rows_;
  for (int64_t p : options_.preferred_batch_size) {
    if (p > rows) next_rows = std::min(next_rows, p);
  }
  const auto early = FromNs(lateness_ns_);
  Clock::time_point wake_at;
  if (!adaptive()) {
    wake_at = head_enqueued + std::chrono::microseconds(*options_.max_queue_delay_microseconds) - early;
  } else {
    const double a = gap_ns_;
    const double c = fixed_cost_us() * 1e3;
    if (arrivals_ < 2 || !last_arrival_ || a <= 0 || static_cast<double>(rows + 1) * a >= c) return d;
    // Waiting pays while (n + 1) * a < c: it stops paying at n = ceil(c / a) - 1 rows.
    const auto stop_rows = static_cast<int64_t>(std::ceil(c / a)) - 1;
    next_rows = std::min(next_rows, std::max(rows + 1, stop_rows));
    const auto cap =
        std::min(FromNs(c), std::chrono::duration_cast<Clock::duration>(
                                std::chrono::microseconds(options_.max_adaptive_delay_microseconds)));
    // Not taken early by the timer's lateness: these ends are estimates, not a promise, and a
    // wait shorter than the lateness still lets the parsing thread run meanwhile.
    wake_at = std::min(std::max(*last_arrival_, free_since) + FromNs(2 * mean_gap_ns_), head_enqueued + cap);
  }
  if (now >= wake_at) return d;
  d.run = false;
  d.wake_at = wake_at;
  d.wake_rows = next_rows;
  return d;
}

}  // namespace continuum
