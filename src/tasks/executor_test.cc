#include "tasks/executor.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>

#include "tasks/test_gate.h"

namespace continuum::tasks {
namespace {

using namespace std::chrono_literals;

using testing::Gate;

TEST(TaskExecutor, QueueIsBoundedByBytes) {
  Gate gate;
  TaskExecutor ex(1, 100, 100);
  ASSERT_TRUE(ex.Submit(gate.Work(), 70).ok());
  ASSERT_TRUE(gate.WaitStarted(1));  // running: its bytes left the queue
  EXPECT_EQ(ex.queued_bytes(), 0);
  ASSERT_TRUE(ex.Submit(gate.Work(), 60).ok());
  ASSERT_TRUE(ex.Submit(gate.Work(), 40).ok());
  EXPECT_EQ(ex.queued_bytes(), 100);
  Status st = ex.Submit(gate.Work(), 1);
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("--task-queue-bytes"), std::string::npos) << st.message();
  ASSERT_TRUE(ex.Submit(gate.Work(), 0).ok());  // holds nothing: only the count applies
  EXPECT_EQ(ex.queued(), 3u);

  gate.Open();
  ASSERT_TRUE(gate.WaitFinished(4));
  EXPECT_EQ(ex.queued_bytes(), 0);
  ASSERT_TRUE(ex.Submit(gate.Work(), 100).ok());  // the whole budget once the queue drained
  ASSERT_TRUE(gate.WaitFinished(5));
  ex.Shutdown();
}

TEST(TaskExecutor, ItemLargerThanTheBudgetIsTooLarge) {
  std::atomic<bool> ran{false};
  TaskExecutor ex(1, 100, 100);
  Status st = ex.Submit([&] { ran = true; }, 101);
  EXPECT_EQ(st.code(), StatusCode::kPayloadTooLarge) << st.ToString();
  EXPECT_NE(st.message().find("101 bytes"), std::string::npos) << st.message();
  EXPECT_EQ(ex.queued(), 0u);
  ex.Shutdown();
  EXPECT_FALSE(ran.load());
}

TEST(TaskExecutor, QueueIsBoundedByCount) {
  Gate gate;
  TaskExecutor ex(1, 2, 1 << 20);
  ASSERT_TRUE(ex.Submit(gate.Work()).ok());
  ASSERT_TRUE(gate.WaitStarted(1));
  ASSERT_TRUE(ex.Submit(gate.Work()).ok());
  ASSERT_TRUE(ex.Submit(gate.Work()).ok());
  Status st = ex.Submit(gate.Work());
  EXPECT_EQ(st.code(), StatusCode::kUnavailable) << st.ToString();
  EXPECT_NE(st.message().find("task queue full"), std::string::npos) << st.message();
  gate.Open();
  ASSERT_TRUE(gate.WaitFinished(3));
  ex.Shutdown();
}

TEST(TaskExecutor, ItemsWhoseClientWentAwayAreDroppedUnrun) {
  Gate gate;
  TaskExecutor ex(1, 10);
  ASSERT_TRUE(ex.Submit(gate.Work()).ok());
  ASSERT_TRUE(gate.WaitStarted(1));  // the only thread is busy
  std::atomic<int> ran{0};
  std::atomic<bool> saw_token{false};
  CancelToken gone = CancelToken::Make(), wanted = CancelToken::Make();
  ASSERT_TRUE(ex.Submit([&] { ++ran; }, 0, gone).ok());
  ASSERT_TRUE(ex.Submit(
                    [&] {
                      ++ran;
                      // The model requests this item sends carry its token.
                      wanted.Cancel();
                      saw_token = TaskExecutor::CurrentCancel().cancelled();
                    },
                    0, wanted)
                  .ok());
  gone.Cancel();
  gate.Open();
  ex.Shutdown();  // drains the queue
  EXPECT_EQ(ran.load(), 1);
  EXPECT_TRUE(saw_token.load());
  EXPECT_EQ(ex.cancelled(), 1);
  EXPECT_FALSE(TaskExecutor::CurrentCancel().cancelled());  // not an executor thread
}

}  // namespace
}  // namespace continuum::tasks
