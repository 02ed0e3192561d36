// The emulated node speed: a slower processor (scale) and injected stragglers.
#include <gtest/gtest.h>
#include <time.h>

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

// CPU time this process has used, in milliseconds.
double ProcessCpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
}

TEST(ComputeEmulation, ScalePadsTheEngineTime) {
  // At scale 6 each run is padded to 6x its own measured time. The test engine runs ORT on the
  // instance thread alone (intra_op_threads 1), so a run's own time is at least the CPU time the
  // process spent on the request, however loaded the machine is; the padding sleeps and spends
  // none. So the run time each answer reports must be several times the CPU time its request
  // used, where an unpadded run is about equal to it. (Comparing wall-clock medians of a plain
  // and a scaled scheduler instead fails whenever the machine slows one phase and not the other.)
  auto request = [] {
    InferRequest r;
    r.model_name = "mlp_big";
    r.model_version = 1;
    r.inputs.push_back(FloatTensor("x", {1, 1024}, std::vector<float>(1024, 0.1f)));
    return r;
  };
  SchedulerOptions o;
  o.max_batch_size = 8;
  o.emulation.scale = 6.0;
  Scheduler s(Sessions("mlp_big"), o, nullptr);
  double run_ms = 0, cpu_ms = 0;
  for (int i = 0; i < 9; ++i) {
    std::promise<StatusOr<InferResponse>> done;
    auto fut = done.get_future();
    const double cpu0 = ProcessCpuMs();
    ASSERT_TRUE(
        s.Enqueue(request(), [&done](StatusOr<InferResponse> r) { done.set_value(std::move(r)); }).ok());
    auto r = fut.get();
    cpu_ms += ProcessCpuMs() - cpu0;
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_DOUBLE_EQ(r->batch_share, 1.0);
    run_ms += static_cast<double>(r->run_ns) / 1e6;
  }
  ASSERT_GT(cpu_ms, 0);
  EXPECT_GT(run_ms, 3.0 * cpu_ms) << "reported run time " << run_ms << " ms for " << cpu_ms << " ms of CPU";
}

}  // namespace
}  // namespace continuum
