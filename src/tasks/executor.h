// A fixed pool of threads for task requests: pre/post-processing (image and audio decoding,
// tokenization, OCR geometry) is CPU work that must not run on HTTP I/O threads, and tasks block
// while their tensors wait in the model schedulers. The queue is bounded by count and by the
// bytes its requests hold: Submit fails when either is full. A work item whose client went away
// (its CancelToken is set) before a thread takes it is dropped unrun; while it runs, the model
// requests it sends carry the same token (CurrentCancel), so they leave the model queues too.
// Thread-safe.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "common/cancel.h"
#include "common/status.h"
#include "common/thread_annotations.h"

namespace continuum::tasks {

class TaskExecutor {
 public:
  TaskExecutor(int threads, size_t max_queue, int64_t max_queue_bytes = kDefaultMaxQueueBytes);
  ~TaskExecutor();  // finishes queued work, then joins
  TaskExecutor(const TaskExecutor&) = delete;
  TaskExecutor& operator=(const TaskExecutor&) = delete;

  static constexpr int64_t kDefaultMaxQueueBytes = 256 << 20;

  // `bytes`: what the work item holds while it waits (its request's body), counted against
  // max_queue_bytes until a thread takes it. kUnavailable when the queue is full (by count or by
  // bytes) or the executor is stopping; kPayloadTooLarge when `bytes` alone exceed the budget.
  // `cancel`: set when the client is gone; the item is then destroyed without running (what it
  // captured answers nobody).
  Status Submit(std::function<void()> work, int64_t bytes = 0, CancelToken cancel = {});
  void Shutdown();
  // Work items waiting for a thread, and the bytes they hold.
  size_t queued();
  int64_t queued_bytes();
  // Work items dropped unrun because their client went away.
  int64_t cancelled();
  // The token of the work item the calling thread runs (never set outside an executor thread).
  static const CancelToken& CurrentCancel();

 private:
  struct Item {
    std::function<void()> work;
    int64_t bytes = 0;
    CancelToken cancel;
  };
  void Loop();
  const size_t max_queue_;
  const int64_t max_queue_bytes_;
  Mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> queue_ GUARDED_BY(mu_);
  int64_t queued_bytes_ GUARDED_BY(mu_) = 0;  // the bytes of queue_
  int64_t cancelled_ GUARDED_BY(mu_) = 0;
  bool stopping_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace continuum::tasks
