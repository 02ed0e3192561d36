// BatchPolicy with made-up arrivals, run times and wake-ups: every time is an argument, so these
// tests decide the same way on any machine.
#include "scheduler/batch_policy.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>

namespace continuum {
namespace {

using namespace std::chrono_literals;
using Clock = BatchPolicy::Clock;

const Clock::time_point T0 = Clock::time_point() + 1h;

double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

BatchPolicy::Options Adaptive(int64_t max_batch = 8, int64_t cap_us = 1000) {
  BatchPolicy::Options o;
  o.max_batch_size = max_batch;
  o.max_adaptive_delay_microseconds = cap_us;
  return o;
}

BatchPolicy::Options Fixed(int64_t delay_us, int64_t max_batch = 8, std::vector<int64_t> preferred = {}) {
  BatchPolicy::Options o;
  o.max_batch_size = max_batch;
  o.max_queue_delay_microseconds = delay_us;
  o.preferred_batch_size = std::move(preferred);
  return o;
}

// `n` arrivals `gap` apart, the last one at `last`.
void Arrivals(BatchPolicy& p, int n, Clock::duration gap, Clock::time_point last) {
  for (int i = n - 1; i >= 0; --i) p.OnArrival(last - i * gap);
}

// Runs costing fixed + per_row * rows, alternating 1-row and `big`-row batches.
void Runs(BatchPolicy& p, int n, Clock::duration fixed, Clock::duration per_row, int64_t big = 1) {
  for (int i = 0; i < n; ++i) {
    int64_t rows = i % 2 ? big : 1;
    p.OnRun(rows, fixed + per_row * rows);
  }
}

TEST(BatchPolicy, WithoutHistoryALoneRequestRunsAtOnce) {
  BatchPolicy p(Adaptive());
  EXPECT_TRUE(p.Decide(T0, T0, T0, 1, false).run);
  p.OnArrival(T0);
  EXPECT_TRUE(p.Decide(T0, T0, T0, 1, false).run) << "one arrival tells no rate";
  // Arrivals but no run measured yet: nothing says waiting would save anything.
  BatchPolicy q(Adaptive());
  Arrivals(q, 10, 1us, T0);
  EXPECT_TRUE(q.Decide(T0, T0, T0, 1, false).run);
}

TEST(BatchPolicy, SlowArrivalsRunALoneRequestAtOnce) {
  // One client in a closed loop: a request every 90 us, runs of 10 us.
  BatchPolicy p(Adaptive());
  Runs(p, 50, 10us, 0us);
  Arrivals(p, 50, 90us, T0);
  EXPECT_NEAR(p.mean_gap_us(), 90, 0.01);
  EXPECT_TRUE(p.Decide(T0, T0, T0, 1, false).run);
}

TEST(BatchPolicy, FastArrivalsWaitForCompanyWhileItCostsLessThanARun) {
  // A request every 2 us; a run costs 21 us fixed + 1 us per row.
  BatchPolicy p(Adaptive(32));
  Runs(p, 64, 21us, 1us, 8);
  EXPECT_NEAR(p.fixed_cost_us(), 21, 0.01);
  Arrivals(p, 64, 2us, T0);
  EXPECT_NEAR(p.mean_gap_us(), 2, 0.01);

  // 1 row: (1 + 1) * 2 < 21, wait until the next expected arrival (2 gaps after the last one),
  // or until the batch has 10 rows, where (10 + 1) * 2 passes 21.
  auto d = p.Decide(T0, T0, T0, 1, false);
  EXPECT_FALSE(d.run);
  EXPECT_EQ(d.wake_at, T0 + 4us);
  EXPECT_EQ(d.wake_rows, 10);

  // 9 rows: waiting for a 10th costs the queue 20 us, less than the 21 us run it saves; at 10
  // rows an 11th would cost 22 us.
  EXPECT_FALSE(p.Decide(T0, T0, T0, 9, false).run);
  EXPECT_TRUE(p.Decide(T0, T0, T0, 10, false).run);
  // The stream paused: nothing arrived for two mean gaps.
  EXPECT_TRUE(p.Decide(T0 + 4us, T0, T0, 3, false).run);
  // A full batch or a preferred size with nothing else waiting never waits.
  EXPECT_TRUE(p.Decide(T0, T0, T0, 32, false).run);
  EXPECT_TRUE(p.Decide(T0, T0, T0, 4, true).run);
}

TEST(BatchPolicy, AdaptiveWaitIsBoundedByTheRunCostAndTheCap) {
  // Arrivals every 10 us, runs of 200 us fixed: the next arrival is expected within 20 us, but
  // the oldest request arrived long ago; it never waits more than one run's fixed cost.
  BatchPolicy p(Adaptive(64));
  Runs(p, 64, 200us, 0us, 4);
  Arrivals(p, 64, 10us, T0);
  auto d = p.Decide(T0, T0 - 190us, T0 - 190us, 2, false);
  ASSERT_FALSE(d.run);
  EXPECT_EQ(d.wake_at, T0 + 10us);  // head + 200 us comes before last arrival + 20 us
  EXPECT_TRUE(p.Decide(T0 + 10us, T0 - 190us, T0 - 190us, 2, false).run);

  // ... and never more than max_adaptive_delay_microseconds.
  BatchPolicy q(Adaptive(64, 50));
  Runs(q, 64, 200us, 0us, 4);
  Arrivals(q, 64, 10us, T0);
  auto e = q.Decide(T0, T0 - 40us, T0 - 40us, 2, false);
  ASSERT_FALSE(e.run);
  EXPECT_EQ(e.wake_at, T0 + 10us);
  // A cap of 0 turns the adaptive wait off.
  BatchPolicy z(Adaptive(64, 0));
  Runs(z, 64, 200us, 0us, 4);
  Arrivals(z, 64, 10us, T0);
  EXPECT_TRUE(z.Decide(T0, T0, T0, 1, false).run);
}

TEST(BatchPolicy, FixedCostIsTheRunTimeThatDoesNotGrowWithRows) {
  BatchPolicy p(Adaptive());
  EXPECT_EQ(p.fixed_cost_us(), 0);
  // Only 1-row runs: all of their time counts as fixed.
  for (int i = 0; i < 40; ++i) p.OnRun(1, 30us);
  EXPECT_NEAR(p.fixed_cost_us(), 30, 0.01);
  // Runs of 1 and 8 rows at 10 us + 5 us per row separate the two.
  Runs(p, 400, 10us, 5us, 8);
  EXPECT_NEAR(p.fixed_cost_us(), 10, 0.5);
  // Then runs of one size only keep the fixed cost found.
  for (int i = 0; i < 400; ++i) p.OnRun(8, 50us);
  EXPECT_NEAR(p.fixed_cost_us(), 10, 0.5);
}

TEST(BatchPolicy, TheHandOffToAnIdleInstanceIsPartOfARunsFixedCost) {
  // A request every 20 us and runs of 8 us: not worth waiting for, until waking the instance
  // is seen to take 40 us (a busy machine), which one batch instead of two saves.
  BatchPolicy p(Adaptive());
  Runs(p, 64, 8us, 0us, 4);
  Arrivals(p, 64, 20us, T0);
  EXPECT_TRUE(p.Decide(T0, T0, T0, 1, false).run);
  for (int i = 0; i < 100; ++i) p.OnHandoff(40us);
  EXPECT_NEAR(p.handoff_us(), 40, 0.01);
  EXPECT_NEAR(p.fixed_cost_us(), 48, 0.01);
  auto d = p.Decide(T0, T0, T0, 1, false);
  EXPECT_FALSE(d.run);
  EXPECT_EQ(d.wake_at, T0 + 40us);
  EXPECT_TRUE(p.Decide(T0, T0, T0, 2, false).run);  // (2 + 1) * 20 > 48
}

TEST(BatchPolicy, TheTypicalGapIsTheOneInsideBursts) {
  // Bursts of 8 requests 2 us apart, one burst every 200 us: the mean gap is ~26 us, but what
  // decides whether company is coming is the gap inside a burst.
  BatchPolicy p(Adaptive());
  Clock::time_point t = T0;
  for (int burst = 0; burst < 20; ++burst) {
    for (int i = 0; i < 8; ++i) p.OnArrival(t + i * 2us);
    t += 200us;
  }
  EXPECT_LT(p.mean_gap_us(), 10);
  EXPECT_GT(p.mean_gap_us(), 2);
  // With runs of 40 us fixed, 3 queued rows wait for a 4th: (3 + 1) * ~4 us < 40 us. The stream
  // counts as paused only after two plain mean gaps (~50 us) without an arrival, so a wait that
  // starts between bursts can last until the head has waited the run's fixed cost.
  Runs(p, 64, 40us, 0us, 4);
  const Clock::time_point last = t - 200us + 14us;
  auto d = p.Decide(last + 1us, last - 5us, last + 1us, 3, false);
  ASSERT_FALSE(d.run);
  EXPECT_EQ(d.wake_at, last + 35us);  // head + 40 us comes before last arrival + ~50 us
}

TEST(BatchPolicy, AWaitStartsCountingWhenTheInstanceBecameFree) {
  // An instance that just finished a run (sharing a core with the parsing thread, which could
  // not run meanwhile) sees an old last arrival; the stream has not paused for it.
  BatchPolicy p(Adaptive());
  Runs(p, 64, 40us, 0us, 4);
  Arrivals(p, 64, 2us, T0);
  EXPECT_TRUE(p.Decide(T0 + 30us, T0, T0, 2, false).run);  // idle since T0: paused
  auto d = p.Decide(T0 + 30us, T0, T0 + 30us, 2, false);   // free since just now
  ASSERT_FALSE(d.run);
  EXPECT_EQ(d.wake_at, T0 + 34us);
}

TEST(BatchPolicy, ALongIdlePeriodDoesNotHideTheNextBurstForLong) {
  BatchPolicy p(Adaptive(8, 100));
  Runs(p, 64, 40us, 0us, 4);
  Arrivals(p, 32, 2us, T0);
  // A minute without requests counts as 2 x the cap, 200 us, in the geometric mean.
  p.OnArrival(T0 + 60s);
  EXPECT_NEAR(p.mean_gap_us(), 2 * std::exp(std::log(100.0) / 16), 0.01);
  Arrivals(p, 64, 2us, T0 + 60s + 128us);
  EXPECT_LT(p.mean_gap_us(), 3);
  EXPECT_FALSE(p.Decide(T0 + 60s + 128us, T0 + 60s + 128us, T0 + 60s + 128us, 1, false).run);
}

TEST(BatchPolicy, ConfiguredDelayCutsAtTheDelay) {
  BatchPolicy p(Fixed(100, 8, {2, 4}));
  auto d = p.Decide(T0, T0, T0, 1, false);
  ASSERT_FALSE(d.run);
  EXPECT_EQ(d.wake_at, T0 + 100us);
  EXPECT_EQ(d.wake_rows, 2);  // the next preferred size
  EXPECT_EQ(p.Decide(T0, T0, T0, 3, false).wake_rows, 4);
  EXPECT_FALSE(p.Decide(T0 + 99us, T0, T0, 1, false).run);
  EXPECT_TRUE(p.Decide(T0 + 100us, T0, T0, 1, false).run);
  EXPECT_TRUE(p.Decide(T0, T0, T0, 4, false).run);  // the largest preferred size
  EXPECT_TRUE(p.Decide(T0, T0, T0, 2, true).run);   // preferred, nothing else waiting
  EXPECT_FALSE(p.Decide(T0, T0, T0, 2, false).run);
  // The arrival rate plays no part.
  Runs(p, 64, 200us, 0us, 4);
  Arrivals(p, 64, 1s, T0);
  EXPECT_FALSE(p.Decide(T0, T0, T0, 1, false).run);
  BatchPolicy zero(Fixed(0));
  EXPECT_TRUE(zero.Decide(T0, T0, T0, 1, false).run);
}

TEST(BatchPolicy, ConfiguredDelayIsKeptDespiteLateTimerWakeUps) {
  // Timed waits wake 20 us late (kernel timer latency): asking for the deadline itself made a
  // lone request wait delay + 20 us. The policy learns the lateness and asks that much earlier.
  BatchPolicy p(Fixed(100));
  for (int i = 0; i < 100; ++i) {
    Clock::time_point asked = T0 + i * 1ms;
    p.OnTimedWake(asked, asked + 20us);
  }
  EXPECT_NEAR(p.timer_lateness_us(), 20, 0.01);
  auto d = p.Decide(T0, T0, T0, 1, false);
  ASSERT_FALSE(d.run);
  const auto asked = d.wake_at;
  EXPECT_NEAR(Us(asked - T0), 80, 0.01);
  // Woken as late as usual: the batch is cut, and it has waited the delay, not more.
  const auto woke = asked + 20us;
  EXPECT_TRUE(p.Decide(woke, T0, T0, 1, false).run);
  EXPECT_NEAR(Us(woke - T0), 100, 0.01);
  // A wake-up delayed by a preemption (over 100 us) counts as 100 us at most.
  BatchPolicy q(Fixed(1000));
  q.OnTimedWake(T0, T0 + 50ms);
  EXPECT_LE(q.timer_lateness_us(), 100.0 / 8 + 0.01);
}

}  // namespace
}  // namespace continuum
