#include "http/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <cerrno>
#include <chrono>
#include <exception>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "http/internal/connection.h"
#include "http/io_loop.h"

namespace continuum::http {

namespace internal {
namespace {

std::string FormatEndpoint(const tcp::endpoint& ep) {
  const auto address = ep.address();
  std::string out;
  if (address.is_v6() && !address.to_v6().is_v4_mapped()) {
    out = "[" + address.to_string() + "]";
  } else if (address.is_v6()) {
    out = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6()).to_string();
  } else {
    out = address.to_string();
  }
  out += ':';
  out += std::to_string(ep.port());
  return out;
}

bool IsResourceExhaustion(const beast::error_code& ec) {
  return ec == net::error::no_descriptors || ec == net::error::no_buffer_space ||
         ec == net::error::no_memory ||
         (ec.category() == boost::system::system_category() && ec.value() == ENFILE);
}

}  // namespace

class ServerImpl final : public Server {
 public:
  ServerImpl(const ServerOptions& options, Handler handler)
      : shared_(options, std::move(handler)),
        loops_(options.loops),
        own_ioc_(!loops_.empty() ? std::nullopt
                                 : std::optional<net::io_context>(std::in_place, options.io_threads)),
        ioc_(!loops_.empty() ? loops_.front()->context() : *own_ioc_),
        accept_strand_(net::make_strand(ioc_)),
        acceptor_(accept_strand_),
        accept_retry_(accept_strand_) {
    if (loops_.empty()) work_.emplace(ioc_.get_executor());
  }

  ~ServerImpl() override { Stop(); }

  Status Listen() {
    beast::error_code ec;
    const auto address = net::ip::make_address(shared_.options.address, ec);
    if (ec) return InvalidArgument("invalid listen address '" + shared_.options.address + "'");
    const tcp::endpoint endpoint(address, shared_.options.port);
    const std::string where = shared_.options.address + ":" + std::to_string(shared_.options.port);
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) return Unavailable("cannot open socket for " + where + ": " + ec.message());
    acceptor_.set_option(net::socket_base::reuse_address(true), ec);
    if (ec) return Unavailable("cannot set SO_REUSEADDR on " + where + ": " + ec.message());
    acceptor_.bind(endpoint, ec);
    if (ec) return Unavailable("cannot bind " + where + ": " + ec.message());
    acceptor_.listen(net::socket_base::max_listen_connections, ec);
    if (ec) return Unavailable("cannot listen on " + where + ": " + ec.message());
    // AcceptBatch accepts until the queue is empty: each accept returns at once.
    acceptor_.non_blocking(true, ec);
    if (ec) return Unavailable("cannot make the socket of " + where + " non-blocking: " + ec.message());
    const auto local = acceptor_.local_endpoint(ec);
    if (ec) return Unavailable("cannot read the bound address of " + where + ": " + ec.message());
    port_ = local.port();
    return Status::Ok();
  }

  Status Run() {
    ++accept_ops_;
    net::post(accept_strand_, [this] {
      if (!AcceptOpEnded()) AcceptBatch();
    });
    if (!loops_.empty()) return Status::Ok();  // the loops' threads serve
    try {
      threads_.reserve(static_cast<size_t>(shared_.options.io_threads));
      for (int i = 0; i < shared_.options.io_threads; ++i) {
        threads_.emplace_back([this] { RunLoop(); });
      }
    } catch (const std::exception& e) {
      Stop();
      return Internal(std::string("cannot start HTTP I/O threads: ") + e.what());
    }
    return Status::Ok();
  }

  uint16_t port() const override { return port_; }
  std::shared_ptr<const tls::HandshakeStats> tls_stats() const override { return shared_.tls_stats; }

  void Stop() override {
    if (stopped_) return;
    stopped_ = true;

    // 1. From now on responders do nothing; wait out the ones that are mid-post.
    Lifeline& lifeline = *shared_.lifeline;
    lifeline.alive.store(false);
    while (lifeline.users.load() != 0) std::this_thread::yield();

    // 2. Stop accepting. On shared loops, wait until every accept-path operation the close
    //    aborted has run its handler (which reads this object): see AcceptOpEnded.
    std::promise<void> accept_closed;
    const bool wait_on_loop = !loops_.empty() && !InLoopThread();
    bool accept_posted = false;
    try {
      net::post(accept_strand_, [this, &accept_closed, wait_on_loop] {
        beast::error_code ignored;
        acceptor_.close(ignored);
        try {
          accept_retry_.cancel();
        } catch (...) {
        }
        if (!wait_on_loop) return;
        if (accept_ops_ == 0) {
          accept_closed.set_value();
        } else {
          accept_closed_ = &accept_closed;
        }
      });
      accept_posted = true;
    } catch (...) {
    }

    // 3. Close every connection. Shared pointers are released outside the lock: the last one
    //    runs ~Connection, which takes the same lock.
    std::vector<std::shared_ptr<Connection>> live;
    {
      std::lock_guard<std::mutex> lock(shared_.mu);
      shared_.stopping = true;
      live.reserve(shared_.count);
      for (Connection* c = shared_.head; c != nullptr; c = c->next_) {
        if (auto sp = c->weak_from_this().lock()) live.push_back(std::move(sp));
      }
    }
    for (auto& c : live) {
      try {
        c->Shutdown();
      } catch (...) {
      }
    }
    live.clear();

    // 4. On shared loops, which keep running: wait until the accept is closed and every
    //    connection (each refers to shared_) is gone; their closes are on the loops already.
    if (!loops_.empty()) {
      if (wait_on_loop) {
        if (accept_posted) accept_closed.get_future().wait();
        for (;;) {
          {
            std::lock_guard<std::mutex> lock(shared_.mu);
            if (shared_.count == 0) break;
          }
          std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
      }
      return;
    }
    // Own threads: let run() return once the closes have drained, and join.
    work_.reset();
    const auto self = std::this_thread::get_id();
    for (auto& t : threads_) {
      if (!t.joinable()) continue;
      if (t.get_id() == self) {
        // Stop called on an I/O thread (from a handler): it cannot join itself. The owner must
        // not destroy the server from there; this only avoids a self-join.
        t.detach();
        continue;
      }
      t.join();
    }
    threads_.clear();
  }

 private:
  bool InLoopThread() const {
    for (const auto& l : loops_)
      if (l->InLoopThread()) return true;
    return false;
  }

  // The context the next connection runs on: the shared loops in turn (Admit moves on to the
  // next), else the server's own.
  net::io_context& NextContext() {
    if (loops_.empty()) return ioc_;
    return loops_[next_loop_ % loops_.size()]->context();
  }

  void RunLoop() {
    for (;;) {
      try {
        ioc_.run();
        return;
      } catch (...) {
        // A completion handler threw; keep serving the other connections.
      }
    }
  }

  // The accept path (WaitAcceptable, AcceptBatch, Admit, the retry timer) runs on the accept
  // strand only; accept_ops_ counts its operations in flight, so that Stop on shared loops returns
  // only once the last of them has run its handler (a handler of an operation aborted by the close
  // still reads this object, and may run after any marker posted behind the close).
  //
  // One wake-up accepts every connection waiting, up to max_accepts_per_wakeup (the listening
  // socket is non-blocking): under a burst of connects, one wait and one handler serve them all,
  // and the peer's address comes with the accept.
  void WaitAcceptable() {
    acceptor_.async_wait(tcp::acceptor::wait_read, [this](beast::error_code ec) {
      if (AcceptOpEnded()) return;
      if (ec) {
        RetryAcceptLater();  // not expected on an open acceptor: do not spin on it
        return;
      }
      AcceptBatch();
    });
    ++accept_ops_;
  }

  void AcceptBatch() {
    for (size_t i = 0; i < shared_.options.max_accepts_per_wakeup; ++i) {
      beast::error_code ec;
      try {
        auto strand = net::make_strand(NextContext());
        tcp::socket socket(strand);
        tcp::endpoint remote;
        acceptor_.accept(socket, remote, ec);
        if (ec == net::error::would_block || ec == net::error::try_again) return WaitAcceptable();
        if (ec) {
          // Out of descriptors or memory: back off instead of spinning on accept. Otherwise
          // (e.g. the peer reset before the accept) go on with the next one.
          if (IsResourceExhaustion(ec)) return RetryAcceptLater();
          continue;
        }
        ++next_loop_;
        Admit(std::move(socket), strand, remote);
      } catch (...) {
        return RetryAcceptLater();  // allocation failure: the socket (if any) closed on the way out
      }
    }
    // A full batch: more may be waiting, and epoll reports the listening socket's readiness once
    // per arrival, so a wait could sleep on them. Go on after what the loop has queued meanwhile.
    net::post(accept_strand_, [this] {
      if (!AcceptOpEnded()) AcceptBatch();
    });
    ++accept_ops_;
  }

  void RetryAcceptLater() {
    accept_retry_.expires_after(std::chrono::milliseconds(50));
    accept_retry_.async_wait([this](beast::error_code wait_ec) {
      if (AcceptOpEnded()) return;
      if (!wait_ec) AcceptBatch();
    });
    ++accept_ops_;
  }

  // An accept-path operation has completed. True when the server is stopping: the caller returns
  // at once and touches nothing more (after the last one, Stop may destroy this object).
  bool AcceptOpEnded() {
    --accept_ops_;
    if (acceptor_.is_open()) return false;
    if (accept_ops_ == 0 && accept_closed_ != nullptr) std::exchange(accept_closed_, nullptr)->set_value();
    return true;
  }

  // A new connection: registered and started on its strand, or closed at once when over
  // max_connections (or stopping).
  void Admit(tcp::socket socket, const Strand& strand, const tcp::endpoint& remote) {
    auto conn = std::make_shared<Connection>(shared_, std::move(socket), strand, FormatEndpoint(remote));
    if (!shared_.Register(conn.get())) {
      conn->Abandon();
      return;
    }
    // Runs Start at once when the strand is idle and its context is this thread's (the usual
    // case with one I/O loop), instead of another turn of the loop.
    net::dispatch(strand, [conn] { conn->Start(); });
  }

  // Declaration order matters: shared_ (the registry) must outlive ioc_, whose destruction may
  // destroy connections; the I/O objects must die before ioc_.
  ServerShared shared_;
  std::vector<std::shared_ptr<IoLoop>> loops_;  // shared loops, or none
  std::optional<net::io_context> own_ioc_;      // without shared loops
  size_t next_loop_ = 0;                        // on the accept strand
  net::io_context& ioc_;
  Strand accept_strand_;
  tcp::acceptor acceptor_;
  net::steady_timer accept_retry_;
  int accept_ops_ = 0;                           // on the accept strand
  std::promise<void>* accept_closed_ = nullptr;  // on the accept strand: Stop waits on it
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
  bool stopped_ = false;
};

}  // namespace internal

StatusOr<std::unique_ptr<Server>> Server::Start(const ServerOptions& options, Handler handler) {
  if (!handler) return InvalidArgument("HTTP server needs a handler");
  if (options.io_threads < 1) return InvalidArgument("HTTP server needs io_threads >= 1");
  if (options.max_accepts_per_wakeup < 1)
    return InvalidArgument("HTTP server needs max_accepts_per_wakeup >= 1");
  if (!options.loops.empty() && static_cast<size_t>(options.io_threads) != options.loops.size())
    return InvalidArgument("HTTP server on shared loops runs one I/O thread per loop: io_threads must be " +
                           std::to_string(options.loops.size()));
  for (const auto& l : options.loops)
    if (!l) return InvalidArgument("HTTP server: a shared loop is null");
  try {
    auto server = std::make_unique<internal::ServerImpl>(options, std::move(handler));
    RETURN_IF_ERROR(server->Listen());
    RETURN_IF_ERROR(server->Run());
    return std::unique_ptr<Server>(std::move(server));
  } catch (const std::exception& e) {
    return Internal(std::string("cannot start HTTP server: ") + e.what());
  }
}

}  // namespace continuum::http
