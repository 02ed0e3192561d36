#include "tasks/executor.h"

#include <algorithm>

namespace continuum::tasks {

namespace {
thread_local CancelToken current_cancel;
}  // namespace

const CancelToken& TaskExecutor::CurrentCancel() { return current_cancel; }

TaskExecutor::TaskExecutor(int threads, size_t max_queue, int64_t max_queue_bytes)
    : max_queue_(max_queue), max_queue_bytes_(max_queue_bytes) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Loop(); });
}

TaskExecutor::~TaskExecutor() { Shutdown(); }

Status TaskExecutor::Submit(std::function<void()> work, int64_t bytes, CancelToken cancel) {
  bytes = std::max<int64_t>(0, bytes);
  if (bytes > max_queue_bytes_) {
    return PayloadTooLarge("the task request holds " + std::to_string(bytes) +
                           " bytes, more than the task queue's budget of " +
                           std::to_string(max_queue_bytes_) + " (--task-queue-bytes)");
  }
  {
    MutexLock lock(mu_);
    if (stopping_) return Unavailable("the server is shutting down");
    if (queue_.size() >= max_queue_) {
      return Unavailable("task queue full: " + std::to_string(queue_.size()) + " task requests waiting");
    }
    if (bytes > max_queue_bytes_ - queued_bytes_) {
      return Unavailable("task queue full: " + std::to_string(queued_bytes_) +
                         " bytes of task requests waiting, no room for " + std::to_string(bytes) +
                         " more (--task-queue-bytes)");
    }
    queued_bytes_ += bytes;
    queue_.push_back({std::move(work), bytes, std::move(cancel)});
  }
  cv_.notify_one();
  return Status::Ok();
}

void TaskExecutor::Shutdown() {
  {
    MutexLock lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

size_t TaskExecutor::queued() {
  MutexLock lock(mu_);
  return queue_.size();
}

int64_t TaskExecutor::queued_bytes() {
  MutexLock lock(mu_);
  return queued_bytes_;
}

int64_t TaskExecutor::cancelled() {
  MutexLock lock(mu_);
  return cancelled_;
}

void TaskExecutor::Loop() {
  MutexLock lock(mu_);
  while (true) {
    while (!stopping_ && queue_.empty()) lock.Wait(cv_);
    if (queue_.empty()) return;  // stopping and drained
    Item item = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= item.bytes;
    const bool cancelled = item.cancel.cancelled();
    if (cancelled) ++cancelled_;
    lock.Unlock();
    if (!cancelled) {
      current_cancel = std::move(item.cancel);
      item.work();
      current_cancel = CancelToken();
    }
    item.work = nullptr;  // what the work captured goes before the next item is taken
    lock.Lock();
  }
}

}  // namespace continuum::tasks
