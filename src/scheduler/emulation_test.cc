// The emulated node speed: a slower processor (scale) and injected stragglers.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <vector>

#include "scheduler/scheduler.h"
#include "scheduler/test_util.h"

namespace continuum {
namespace {

using namespace scheduler_test;  // NOLINT
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Runs `n` add_sub requests one after another; returns each one's time from enqueue to answer.
std::vector<double> RunSequential(Scheduler& s, int n) {
  std::vector<double> ms;
  for (int i = 0; i < n; ++i) {
    std::promise<StatusOr<InferResponse>> done;
    auto fut = done.get_future();
    const auto t0 = Clock::now();
    EXPECT_TRUE(s.Enqueue(AddSubRequest(1, 0), [&done](StatusOr<InferResponse> r) {
                   done.set_value(std::move(r));
                 }).ok());
    auto r = fut.get();
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return ms;
}

TEST(ComputeEmulation, ValidateNamesTheBadSetting) {
  EXPECT_TRUE(ComputeEmulation{}.Validate().ok());
  EXPECT_FALSE(ComputeEmulation{}.enabled());
  ComputeEmulation e;
  e.scale = 0.5;
  EXPECT_NE(e.Validate().message().find("compute scale"), std::string::npos);
  e = {};
  e.straggler_fraction = 1.5;
  EXPECT_NE(e.Validate().message().find("straggler fraction"), std::string::npos);
  e = {};
  e.straggler_ms = -1;
  EXPECT_NE(e.Validate().message().find("straggler delay"), std::string::npos);
  e = {};
  e.scale = 2;
  EXPECT_TRUE(e.enabled());
}

TEST(ComputeEmulation, EveryRunIsAStragglerAtFractionOne) {
  SchedulerOptions o;
  o.emulation.straggler_fraction = 1.0;
  o.emulation.straggler_ms = 40;
  Scheduler s(Sessions("add_sub"), o, nullptr);
  for (double ms : RunSequential(s, 5)) EXPECT_GE(ms, 40.0);
}

TEST(ComputeEmulation, StragglersFollowTheSeed) {
  // Which runs straggle depends only on the seed: two schedulers with the same seed delay the
  // same runs; the share is near the fraction.
  auto pattern = [](uint64_t seed) {
    SchedulerOptions o;
    o.emulation.straggler_fraction = 0.3;
    o.emulation.straggler_ms = 25;
    o.emulation.seed = seed;
    Scheduler s(Sessions("add_sub"), o, nullptr);
    std::vector<bool> slow;
    for (double ms : RunSequential(s, 40)) slow.push_back(ms >= 25.0);
    return slow;
  };
  auto a = pattern(7), b = pattern(7);
  EXPECT_EQ(a, b);
  const auto n = std::count(a.begin(), a.end(), true);
  EXPECT_GE(n, 4);
  EXPECT_LE(n, 24);
}

TEST(ComputeEmulation, ScalePadsTheEngineTime) {
  // mlp_big runs ~1 ms or more per batch-1 request; at scale 6 each run is padded to 6x its own
  // measured time, so the scaled runs take several times longer than the unscaled ones.
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  auto request = [] {
    InferRequest r;
    r.model_name = "mlp_big";
    r.model_version = 1;
    r.inputs.push_back(FloatTensor("x", {1, 1024}, std::vector<float>(1024, 0.1f)));
    return r;
  };
  auto run = [&](double scale) {
    SchedulerOptions o;
    o.max_batch_size = 8;
    o.emulation.scale = scale;
    Scheduler s(Sessions("mlp_big"), o, nullptr);
    std::vector<double> ms;
    for (int i = 0; i < 9; ++i) {
      std::promise<StatusOr<InferResponse>> done;
      auto fut = done.get_future();
      const auto t0 = Clock::now();
      EXPECT_TRUE(
          s.Enqueue(request(), [&done](StatusOr<InferResponse> r) { done.set_value(std::move(r)); }).ok());
      auto r = fut.get();
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    return median(ms);
  };
  const double plain = run(1.0), scaled = run(6.0);
  EXPECT_GT(scaled, 3.0 * plain) << "plain " << plain << " ms, scaled " << scaled << " ms";
}

}  // namespace
}  // namespace continuum
