// When the dynamic batcher runs what it has and when it waits for more.
//
// BatchPolicy holds the estimates the decision needs and makes it; the Scheduler feeds it under
// its lock. Every time is passed in, never read from a clock, so each decision is a function of
// its inputs and the tests drive it with made-up arrivals and run times.
//
// Two modes:
//  - A configured `max_queue_delay_microseconds` (Triton's policy): the batch is cut when it is
//    full, at a preferred size with nothing else waiting, or when the oldest request has waited
//    the delay. The instance thread's timed wait wakes up late by the kernel's timer latency; the
//    policy measures that lateness and asks to be woken that much earlier, so the delay is kept
//    as written instead of delay + lateness.
//  - No configured delay (the default): adaptive, with no knob. A free instance runs what is
//    queued at once unless the measured arrival rate says that waiting for one more request costs
//    the queued ones less than the run it saves: with n rows queued, a mean gap `a` between
//    arrivals and a fixed cost `c` per run (the part of a run's time that does not grow with its
//    rows, plus the hand-off: the time from the arrival that wakes an idle instance until that
//    instance runs; on a busy machine this is where most of a small run's cost goes), waiting ~a for one more
//    adds about (n + 1) * a of waiting in total and saves one run, c, so it waits only while (n + 1) * a < c.
//    The wait ends at the expected next arrival (twice the mean gap after the last one: the stream has
//    paused, e.g. every client of a closed loop is already queued) and never lasts past c after the oldest
//    request arrived (waiting at most what a run costs is never worse than twice the better choice in
//    hindsight, the ski-rental bound), nor past `max_adaptive_delay`. While every instance is busy, requests
//    simply accumulate and the next free instance takes all of them, up to max_batch_size.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

namespace continuum {

class BatchPolicy {
 public:
  using Clock = std::chrono::steady_clock;

  struct Options {
    int64_t max_batch_size = 1;
    std::vector<int64_t> preferred_batch_size;
    // Configured delay in microseconds; absent: adaptive.
    std::optional<int64_t> max_queue_delay_microseconds;
    // Upper bound of an adaptive wait, in microseconds.
    int64_t max_adaptive_delay_microseconds = 1000;
  };

  struct Decision {
    bool run = true;
    // When run is false: wake up at this time at the latest (timer lateness already taken off) ...
    Clock::time_point wake_at = Clock::time_point::max();
    // ... or as soon as this many rows are queued.
    int64_t wake_rows = 0;
  };

  explicit BatchPolicy(Options options);

  // A request was queued at `t`.
  void OnArrival(Clock::time_point t);
  // A run of `rows` rows took `took` (from taking the batch to its last callback).
  void OnRun(int64_t rows, Clock::duration took);
  // An idle instance woken for a request took `took` to start running.
  void OnHandoff(Clock::duration took);
  // A timed wait that asked to wake at `asked` woke (timed out) at `woke`.
  void OnTimedWake(Clock::time_point asked, Clock::time_point woke);

  // For an instance free since `free_since` (its last run ended, or it was woken from idle):
  // `rows` compatible rows are queued, the oldest arrived at `head_enqueued`; `preferred_alone`:
  // they make a preferred batch size and nothing else is queued.
  Decision Decide(Clock::time_point now, Clock::time_point head_enqueued, Clock::time_point free_since,
                  int64_t rows, bool preferred_alone) const;

  bool adaptive() const { return !options_.max_queue_delay_microseconds.has_value(); }
  // The estimates, in microseconds (0 while unknown).
  double mean_gap_us() const;
  double fixed_cost_us() const;  // run_fixed_cost_us() + handoff_us()
  double run_fixed_cost_us() const;
  double handoff_us() const;
  double timer_lateness_us() const;

 private:
  Options options_;
  int64_t target_rows_;  // largest preferred size, or max_batch_size

  // Typical gap between arrivals (geometric mean over an EWMA, ns); gaps are capped so one idle
  // minute does not hide the next burst for long.
  std::optional<Clock::time_point> last_arrival_;
  double log_gap_ = 0;      // EWMA of log(gap in ns)
  double gap_ns_ = 0;       // exp(log_gap_)
  double mean_gap_ns_ = 0;  // EWMA of the gap
  int arrivals_ = 0;

  // Run time as fixed + per_row * rows: exponentially weighted least squares over recent runs.
  double w_ = 0, sx_ = 0, sy_ = 0, sxx_ = 0, sxy_ = 0;
  double last_intercept_ns_ = -1;  // from the last time the runs had different sizes

  double handoff_ns_ = 0;   // EWMA of the hand-offs to idle instances
  double lateness_ns_ = 0;  // EWMA of how late timed waits wake up
};

}  // namespace continuum
