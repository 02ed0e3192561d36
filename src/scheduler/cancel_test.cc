// Requests whose client went away (their CancelToken is set) while they waited in the queue are
// dropped without running; a request already running is not interrupted.
#include "common/cancel.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "scheduler/fake_session.h"
#include "scheduler/scheduler.h"
#include "scheduler/stats.h"
#include "telemetry/metrics.h"

namespace continuum {
namespace {

using namespace scheduler_test;  // NOLINT

InferRequest Cancellable(float base, CancelToken* token) {
  InferRequest r = FakeRequest(1, 2, base);
  *token = CancelToken::Make();
  r.cancel = *token;
  return r;
}

bool Has(const std::string& text, const std::string& line) { return text.find(line) != std::string::npos; }

TEST(CancelToken, CopiesShareOneFlagAndTheDefaultIsNeverCancelled) {
  CancelToken none;
  none.Cancel();
  EXPECT_FALSE(none.cancelled());
  CancelToken a = CancelToken::Make();
  CancelToken b = a;  // NOLINT(performance-unnecessary-copy-initialization): the copy is the subject
  EXPECT_FALSE(b.cancelled());
  a.Cancel();
  EXPECT_TRUE(b.cancelled());
}

TEST(SchedulerCancel, CancelledQueuedRequestsNeverReachTheSession) {
  telemetry::Registry registry;
  InferenceMetricFamilies families(registry);
  ModelStats stats(&families, "m", 1);
  auto probe = std::make_shared<Probe>();
  probe->Close();
  Results res;
  Scheduler s(Fakes(probe), SchedulerOptions{}, &stats);
  std::vector<CancelToken> tokens(4);
  ASSERT_TRUE(s.Enqueue(Cancellable(0, &tokens[0]), res.Callback(0)).ok());
  ASSERT_TRUE(probe->WaitStarted(1));  // the only instance is busy with request 0
  for (int i = 1; i < 4; ++i) ASSERT_TRUE(s.Enqueue(Cancellable(i, &tokens[i]), res.Callback(i)).ok());
  tokens[0].Cancel();  // already running: it finishes
  tokens[1].Cancel();
  tokens[3].Cancel();
  probe->Open();
  ASSERT_TRUE(res.WaitFor(4));
  s.Shutdown();
  EXPECT_TRUE(res.at(0).ok()) << res.at(0).status().ToString();
  EXPECT_TRUE(res.at(2).ok()) << res.at(2).status().ToString();
  for (int i : {1, 3}) {
    EXPECT_EQ(res.at(i).status().code(), StatusCode::kCancelled) << res.at(i).status().ToString();
    EXPECT_EQ(res.calls(i), 1);
  }
  {
    std::lock_guard lock(probe->mu);
    EXPECT_EQ(probe->started, 2);  // requests 0 and 2
  }
  EXPECT_EQ(s.queued(), 0u);
  EXPECT_EQ(s.queued_bytes(), 0);
  const std::string text = registry.Render();
  EXPECT_TRUE(
      Has(text, R"(continuum_inference_request_failure_total{model="m",version="1",reason="CANCELED"} 2)"))
      << text;
  EXPECT_TRUE(Has(text, R"(continuum_inference_request_success_total{model="m",version="1"} 2)")) << text;
  EXPECT_TRUE(Has(text, R"(continuum_inference_pending_requests{model="m",version="1"} 0)")) << text;
}

TEST(SchedulerCancel, ABatchIsFormedFromTheRequestsStillWanted) {
  ModelStats stats(nullptr, "m", 1);
  auto probe = std::make_shared<Probe>();
  probe->Close();
  Results res;
  SchedulerOptions o;
  o.max_batch_size = 8;
  o.dynamic_batching = DynamicBatchingConfig{{}, 0};
  Scheduler s(Fakes(probe), o, &stats);
  std::vector<CancelToken> tokens(7);
  ASSERT_TRUE(s.Enqueue(Cancellable(0, &tokens[0]), res.Callback(0)).ok());
  ASSERT_TRUE(probe->WaitStarted(1));
  for (int i = 1; i < 7; ++i) ASSERT_TRUE(s.Enqueue(Cancellable(i, &tokens[i]), res.Callback(i)).ok());
  for (int i : {1, 2, 4, 6}) tokens[i].Cancel();
  probe->Open();
  ASSERT_TRUE(res.WaitFor(7));
  s.Shutdown();
  for (int i : {0, 3, 5}) EXPECT_TRUE(res.at(i).ok()) << i << ": " << res.at(i).status().ToString();
  for (int i : {1, 2, 4, 6}) EXPECT_EQ(res.at(i).status().code(), StatusCode::kCancelled) << i;
  std::lock_guard lock(probe->mu);
  ASSERT_EQ(probe->shapes.size(), 2u);
  EXPECT_EQ(probe->shapes[1], (Shape{2, 2}));  // requests 3 and 5 only
}

}  // namespace
}  // namespace continuum
