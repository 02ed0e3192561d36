// A cancellation signal that travels with a request from the front end that received it to the
// queue that holds it: the transport sets it when the client is gone (HTTP peer closed while its
// answer was pending, gRPC call cancelled or past its deadline), and whoever is about to spend
// work on the request reads it (the model scheduler when it forms a batch, the task executor
// when it takes a task). Work already running is not interrupted. Whoever waits on others for
// the request (the gateway, on its upstream calls) registers a hook with OnCancel instead of
// polling. Copies share one state; thread-safe. A default-constructed token is never cancelled
// and costs no allocation.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

namespace continuum {

class CancelToken {
  struct State {
    std::atomic<bool> cancelled{false};
    std::mutex mu;  // guards hooks and next_id
    uint64_t next_id = 1;
    std::vector<std::pair<uint64_t, std::function<void()>>> hooks;
  };

 public:
  // Keeps a hook registered; destroying (or Reset) removes it if it has not run. A hook that is
  // already running is not waited for: it must hold what it touches weakly.
  class Hook {
   public:
    Hook() = default;
    Hook(Hook&& o) noexcept : state_(std::move(o.state_)), id_(o.id_) { o.id_ = 0; }
    Hook& operator=(Hook&& o) noexcept {
      if (this != &o) {
        Reset();
        state_ = std::move(o.state_);
        id_ = o.id_;
        o.id_ = 0;
      }
      return *this;
    }
    Hook(const Hook&) = delete;
    Hook& operator=(const Hook&) = delete;
    ~Hook() { Reset(); }

    void Reset() {
      if (auto s = state_.lock(); s && id_ != 0) {
        std::lock_guard<std::mutex> lock(s->mu);
        std::erase_if(s->hooks, [this](const auto& h) { return h.first == id_; });
      }
      state_.reset();
      id_ = 0;
    }

   private:
    friend class CancelToken;
    Hook(std::weak_ptr<State> state, uint64_t id) : state_(std::move(state)), id_(id) {}
    std::weak_ptr<State> state_;
    uint64_t id_ = 0;
  };

  CancelToken() = default;
  // A token that can be cancelled.
  static CancelToken Make() {
    CancelToken t;
    t.state_ = std::make_shared<State>();
    return t;
  }

  // Marks every copy cancelled and runs the registered hooks, once, on the calling thread (after
  // the flag is set, outside the token's lock); a no-op on a default-constructed token.
  void Cancel() const {
    if (!state_ || state_->cancelled.exchange(true, std::memory_order_acq_rel)) return;
    std::vector<std::pair<uint64_t, std::function<void()>>> hooks;
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      hooks.swap(state_->hooks);
    }
    for (auto& h : hooks) h.second();
  }
  bool cancelled() const { return state_ && state_->cancelled.load(std::memory_order_acquire); }

  // Runs `fn` once when the token is cancelled, on the thread that cancels it; at once, here, when
  // it already is. Never on a default-constructed token. `fn` must not block.
  [[nodiscard]] Hook OnCancel(std::function<void()> fn) const {
    if (!state_) return {};
    {
      std::lock_guard<std::mutex> lock(state_->mu);
      if (!state_->cancelled.load(std::memory_order_acquire)) {
        const uint64_t id = state_->next_id++;
        state_->hooks.emplace_back(id, std::move(fn));
        return Hook(state_, id);
      }
    }
    fn();
    return {};
  }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace continuum
