// The scheduler with the batching defaults: a derived config (no max_queue_delay_microseconds)
// batches adaptively; instance threads wait for batches with a fine timer slack.
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <vector>

#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "scheduler/scheduler.h"
#include "scheduler/test_util.h"

namespace continuum {
namespace {

using namespace scheduler_test;  // NOLINT
using namespace std::chrono_literals;

// Answers by index; also records what the instance thread reports while answering.
struct Answers {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<StatusOr<InferResponse>> got;
  std::vector<long> timer_slack_ns;
  InferCallback Callback() {
    return [this](StatusOr<InferResponse> r) {
      long slack = -1;
#ifdef __linux__
      slack = static_cast<long>(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0));
#endif
      std::lock_guard lock(mu);
      got.push_back(std::move(r));
      timer_slack_ns.push_back(slack);
      cv.notify_all();
    };
  }
  bool WaitFor(size_t n) {
    std::unique_lock lock(mu);
    return cv.wait_for(lock, 60s, [&] { return got.size() >= n; });
  }
};

SchedulerOptions Derived(int64_t max_adaptive_delay_us) {
  SchedulerOptions o;
  o.max_batch_size = 8;
  o.dynamic_batching.emplace();
  o.dynamic_batching->max_adaptive_delay_microseconds = max_adaptive_delay_us;
  return o;
}

TEST(AdaptiveBatching, ADerivedConfigHasNoFixedDelay) {
  DynamicBatchingConfig d;
  EXPECT_FALSE(d.max_queue_delay_microseconds.has_value());
  EXPECT_EQ(d.max_adaptive_delay_microseconds, 1000);
}

TEST(AdaptiveBatching, ALoneRequestRunsWithoutWaitingForCompany) {
  // With a cap far beyond the test's patience, a lone request that waited would not come back.
  Answers a;
  Scheduler s(Sessions("add_sub"), Derived(100'000'000), nullptr);
  ASSERT_TRUE(s.Enqueue(AddSubRequest(1, 3), a.Callback()).ok());
  ASSERT_TRUE(a.WaitFor(1)) << "a lone request waited for company";
  ASSERT_TRUE(a.got[0].ok()) << a.got[0].status().ToString();
  EXPECT_EQ(a.got[0]->outputs.at(0).shape, (Shape{1, 16}));
  s.Shutdown();
}

TEST(AdaptiveBatching, RequestsQueuedWhileTheInstanceIsBusyAreAnsweredTogether) {
  Answers a;
  Scheduler s(Sessions("add_sub"), Derived(100'000'000), nullptr);
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(s.Enqueue(AddSubRequest(1, static_cast<float>(i)), a.Callback()).ok());
  ASSERT_TRUE(a.WaitFor(20)) << "queued requests waited for company that never came";
  for (auto& r : a.got) ASSERT_TRUE(r.ok()) << r.status().ToString();
  s.Shutdown();
}

#ifdef __linux__
TEST(AdaptiveBatching, InstanceThreadsWaitWithAFineTimerSlack) {
  // Linux lets a timed wait run up to the thread's timer slack (50 us by default) past its
  // deadline; with the wake-up itself, a lone request waited about twice a 100 us delay.
  Answers a;
  SchedulerOptions o;
  o.max_batch_size = 8;
  o.dynamic_batching = DynamicBatchingConfig{{}, 0};
  Scheduler s(Sessions("add_sub"), o, nullptr);
  ASSERT_TRUE(s.Enqueue(AddSubRequest(1, 1), a.Callback()).ok());
  ASSERT_TRUE(a.WaitFor(1));
  std::lock_guard lock(a.mu);
  EXPECT_LE(a.timer_slack_ns.at(0), 1000)
      << "the instance thread's timer slack is " << a.timer_slack_ns.at(0) << " ns";
}
#endif

}  // namespace
}  // namespace continuum
