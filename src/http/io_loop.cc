#include "http/io_loop.h"

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <exception>
#include <optional>

namespace continuum::http {

struct IoLoop::Impl {
  boost::asio::io_context io{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work{
      std::in_place, io.get_executor()};
  std::thread thread;
};

IoLoop::IoLoop() : impl_(std::make_unique<Impl>()) {}

StatusOr<std::shared_ptr<IoLoop>> IoLoop::Start() {
  std::shared_ptr<IoLoop> loop(new IoLoop());
  try {
    Impl* impl = loop->impl_.get();
    impl->thread = std::thread([impl] {
      for (;;) {
        try {
          impl->io.run();
          return;
        } catch (...) {
          // A completion handler threw; keep running the others.
        }
      }
    });
    loop->thread_id_ = impl->thread.get_id();
  } catch (const std::exception& e) {
    return Internal(std::string("cannot start an I/O thread: ") + e.what());
  }
  return loop;
}

IoLoop::~IoLoop() { Stop(); }

void IoLoop::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->work.reset();
  impl_->io.stop();
  if (InLoopThread()) {
    impl_->thread.detach();  // cannot join itself; the owner must not destroy the loop from there
    return;
  }
  impl_->thread.join();
}

boost::asio::io_context& IoLoop::context() { return impl_->io; }

}  // namespace continuum::http
