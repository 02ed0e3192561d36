// For tests: a gate that holds every thread entering it until it is opened, so that a busy pool
// or a full queue is observed by counting, never by timing. Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>

namespace continuum::tasks::testing {

class Gate {
 public:
  // Blocks the calling thread until Open (counted in started, then in finished).
  void Enter() {
    std::unique_lock lock(mu_);
    ++started_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
    ++finished_;
    cv_.notify_all();
  }
  // Work for an executor that enters the gate.
  std::function<void()> Work() {
    return [this] { Enter(); };
  }
  void Open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  // False if fewer than n threads entered (or left) within 10 s: the test fails, never hangs.
  bool WaitStarted(int n) {
    return WaitFor([&] { return started_ >= n; });
  }
  bool WaitFinished(int n) {
    return WaitFor([&] { return finished_ >= n; });
  }

 private:
  template <typename Pred>
  bool WaitFor(Pred pred) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), pred);
  }

  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int started_ = 0;
  int finished_ = 0;
};

}  // namespace continuum::tasks::testing
