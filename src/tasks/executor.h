// A fixed pool of threads for task requests: pre/post-processing (image and audio decoding,
// tokenization, OCR geometry) is CPU work that must not run on HTTP I/O threads, and tasks block
// while their tensors wait in the model schedulers. The queue is bounded: Submit fails when full.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "common/status.h"

namespace continuum::tasks {

class TaskExecutor {
 public:
  TaskExecutor(int threads, size_t max_queue);
  ~TaskExecutor();  // finishes queued work, then joins
  TaskExecutor(const TaskExecutor&) = delete;
  TaskExecutor& operator=(const TaskExecutor&) = delete;

  // kUnavailable when the queue is full or the executor is stopping.
  Status Submit(std::function<void()> work);
  void Shutdown();
  // Work items waiting for a thread.
  size_t queued();

 private:
  void Loop();
  const size_t max_queue_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;  // guarded by mu_
  bool stopping_ = false;                    // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace continuum::tasks
