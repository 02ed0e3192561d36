// A cancellation signal that travels with a request from the front end that received it to the
// queue that holds it: the transport sets it when the client is gone (HTTP peer closed while its
// answer was pending, gRPC call cancelled or past its deadline), and whoever is about to spend
// work on the request reads it (the model scheduler when it forms a batch, the task executor
// when it takes a task). Work already running is not interrupted. Copies share one flag;
// thread-safe. A default-constructed token is never cancelled and costs no allocation.
#pragma once

#include <atomic>
#include <memory>

namespace continuum {

class CancelToken {
 public:
  CancelToken() = default;
  // A token that can be cancelled.
  static CancelToken Make() {
    CancelToken t;
    t.flag_ = std::make_shared<std::atomic<bool>>(false);
    return t;
  }

  // Marks every copy cancelled; a no-op on a default-constructed token.
  void Cancel() const {
    if (flag_) flag_->store(true, std::memory_order_release);
  }
  bool cancelled() const { return flag_ && flag_->load(std::memory_order_acquire); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

}  // namespace continuum
