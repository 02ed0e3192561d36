#include "tasks/executor.h"

namespace continuum::tasks {

TaskExecutor::TaskExecutor(int threads, size_t max_queue) : max_queue_(max_queue) {
  for (int i = 0; i < std::max(1, threads); ++i) threads_.emplace_back([this] { Loop(); });
}

TaskExecutor::~TaskExecutor() { Shutdown(); }

Status TaskExecutor::Submit(std::function<void()> work) {
  {
    std::lock_guard lock(mu_);
    if (stopping_) return Unavailable("the server is shutting down");
    if (queue_.size() >= max_queue_) {
      return Unavailable("task queue full: " + std::to_string(queue_.size()) + " task requests waiting");
    }
    queue_.push_back(std::move(work));
  }
  cv_.notify_one();
  return Status::Ok();
}

void TaskExecutor::Shutdown() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
}

size_t TaskExecutor::queued() {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void TaskExecutor::Loop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping and drained
    auto work = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    work();
    lock.lock();
  }
}

}  // namespace continuum::tasks
