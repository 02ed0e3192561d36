#include "common/cancel.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace continuum {
namespace {

TEST(CancelToken, HooksRunOnceWhenCancelled) {
  CancelToken t = CancelToken::Make();
  int ran = 0;
  CancelToken::Hook h = t.OnCancel([&ran] { ++ran; });
  EXPECT_EQ(ran, 0);
  std::thread([copy = t] { copy.Cancel(); }).join();  // a copy, on another thread
  EXPECT_TRUE(t.cancelled());
  EXPECT_EQ(ran, 1);
  t.Cancel();  // once only
  EXPECT_EQ(ran, 1);
}

TEST(CancelToken, AHookOnACancelledTokenRunsAtOnce) {
  CancelToken t = CancelToken::Make();
  t.Cancel();
  int ran = 0;
  CancelToken::Hook h = t.OnCancel([&ran] { ++ran; });
  EXPECT_EQ(ran, 1);
}

TEST(CancelToken, AResetHookNeverRuns) {
  CancelToken t = CancelToken::Make();
  int ran = 0;
  {
    CancelToken::Hook h = t.OnCancel([&ran] { ++ran; });
  }
  CancelToken::Hook kept = t.OnCancel([&ran] { ran += 10; });
  CancelToken::Hook moved = std::move(kept);
  t.Cancel();
  EXPECT_EQ(ran, 10);
}

TEST(CancelToken, ADefaultTokenNeverRunsItsHooks) {
  CancelToken t;
  bool ran = false;
  CancelToken::Hook h = t.OnCancel([&ran] { ran = true; });
  t.Cancel();
  EXPECT_FALSE(t.cancelled());
  EXPECT_FALSE(ran);
}

TEST(CancelToken, HooksRegisteredFromManyThreadsEachRunOnce) {
  CancelToken t = CancelToken::Make();
  std::atomic<int> ran{0};
  std::vector<CancelToken::Hook> hooks(64);
  std::vector<std::thread> threads;
  threads.reserve(4);
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&, i] {
      for (int j = 0; j < 16; ++j) hooks[i * 16 + j] = t.OnCancel([&ran] { ran.fetch_add(1); });
    });
  std::thread canceller([&t] { t.Cancel(); });
  for (auto& th : threads) th.join();
  canceller.join();
  EXPECT_EQ(ran.load(), 64);  // before the cancel, by it; after, at once
}

}  // namespace
}  // namespace continuum
