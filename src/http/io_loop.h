// An event loop (one Asio io_context) run by one thread of its own, to be shared by an HTTP server
// and the clients its handlers call (the gateway's upstream client): a request that is received,
// forwarded and answered then never changes threads, where two loops would cost two thread
// wake-ups and context switches per request.
// Thread-safety: every method may be called from any thread; Stop not from the loop's own thread.
#pragma once

#include <memory>
#include <thread>

#include "common/status.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace continuum::http {

class IoLoop {
 public:
  static StatusOr<std::shared_ptr<IoLoop>> Start();
  ~IoLoop();  // Stop()
  IoLoop(const IoLoop&) = delete;
  IoLoop& operator=(const IoLoop&) = delete;

  // Stops the loop (handlers not yet run never run) and joins its thread. Idempotent. Everything
  // that posts to the loop must be stopped first (the server, the clients).
  void Stop();
  bool InLoopThread() const { return std::this_thread::get_id() == thread_id_; }
  boost::asio::io_context& context();

 private:
  IoLoop();
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::thread::id thread_id_;
};

}  // namespace continuum::http
