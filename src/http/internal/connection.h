// One accepted HTTP/1.1 connection. Internal to continuum_http.
//
// Threading: every member function except PostResponse and Shutdown runs on the connection's
// strand. The connection keeps itself alive through the completion handlers of its pending
// operations; one timer wait is always pending while it is open, so a connection parked on a
// handler with no read in flight (pipelined bytes past the header limit) still has an owner.
//
// Cancellation: while the handler works, one read stays pending into a small buffer of its own
// (WatchPeer), so the connection notices the peer closing: the request's CancelToken is set and
// the connection closed without an answer. Bytes it reads are the next pipelined request: they
// join `buffer_` (within the header limit; past it, reading stops until the answer is written).
// At most one read is pending at any time; a completed read continues as its phase requires.
//
// TLS (ServerOptions::tls): the connection takes the context current at its accept and keeps it;
// it does the handshake first (phase kHandshake, within the context's handshake_timeout), then
// reads and writes through the TLS stream on the same code path as plain HTTP (AsyncReadSome,
// AsyncWrite); one read and one write may be pending at once on it, as on the socket. The
// connection's TlsInfo is made once, after the handshake, and shared by its requests. At close
// it sends close_notify and waits for the peer's, within linger_timeout.
//
// Timeouts: a single steady_timer per connection checks `deadline_` (the classic Asio deadline
// pattern). Moving the deadline later costs nothing; the timer is re-armed only when it fires
// early or when a deadline moves earlier than the armed expiry, so a keep-alive request costs
// no timer operations in the common case.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "http/internal/request_parser.h"
#include "http/server.h"
#include "tls/handshake_stats.h"

namespace continuum::http::internal {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;
using Strand = net::strand<net::io_context::executor_type>;
using Clock = std::chrono::steady_clock;

// Guards responders against a server that is stopping or gone. A responder bumps `users`
// before it reads `alive` and posts; Stop clears `alive` and waits for `users` to drain, so no
// post can reach an io_context that is being torn down. Outlives the server (responders hold it).
struct Lifeline {
  std::atomic<int> users{0};
  std::atomic<bool> alive{true};
};

class Connection;

// State shared by the acceptor and every connection of one server. Outlives all connections.
struct ServerShared {
  ServerShared(const ServerOptions& o, Handler h) : options(o), handler(std::move(h)) {}

  const ServerOptions options;
  const Handler handler;
  const std::shared_ptr<Lifeline> lifeline = std::make_shared<Lifeline>();
  // With TLS: the handshakes' outcomes (Server::tls_stats). Outlives the server when a reader holds it.
  const std::shared_ptr<tls::HandshakeStats> tls_stats = std::make_shared<tls::HandshakeStats>();

  std::mutex mu;
  Connection* head = nullptr;  // intrusive list of live connections; guarded by mu
  size_t count = 0;            // guarded by mu
  bool stopping = false;       // guarded by mu

  // Adds `c` unless the server is stopping or full. Thread-safe.
  bool Register(Connection* c);
};

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(ServerShared& shared, tcp::socket socket, Strand strand, std::string remote);
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  // Begins serving; call through the strand after a successful Register.
  void Start();
  // Closes the connection from any thread (posts onto the strand).
  void Shutdown();
  // Closes the socket of a connection that was never started (registration refused).
  void Abandon() noexcept;
  // From any thread: answers request `generation` (ignored if the connection moved on or closed).
  // On the thread of the connection's loop (a shared IoLoop, run by that one thread) the answer
  // is written at once, without the strand; from elsewhere it goes through the strand.
  void PostResponse(uint64_t generation, Response&& response);

 private:
  friend struct ServerShared;
  friend class ServerImpl;

  enum class Phase : uint8_t {
    kHandshake,  // TLS handshake (before the first request)
    kIdle,       // waiting for the first byte of a request
    kHeader,     // reading the header block
    kBody,       // reading the body
    kHandler,    // request handed to the handler; the timer and WatchPeer's read in flight
    kWrite,      // writing a response
    kLinger,     // response sent, write side shut, draining input before close
    kClosed,
  };

  void OnHandshake(beast::error_code ec);
  void StartRequest();
  void EnterHeader();
  void Read();
  void OnRead(beast::error_code ec, size_t n);
  // While the handler works: a read that reports the peer closing (WatchPeer, OnWatchRead).
  void WatchPeer();
  void OnWatchRead(beast::error_code ec, size_t n);
  // What a completed read leads to in the current phase, its bytes already in `buffer_`.
  void AfterRead(beast::error_code ec, size_t n);
  void Parse();
  bool OnHeaderDone();  // false: an async step or an error response took over
  void OnContinueWritten(beast::error_code ec);
  void Dispatch();
  void OnResponse(uint64_t generation, Response&& response);
  void SendError(int status, std::string_view message);
  void StartWrite(int status, std::string_view content_type,
                  const std::vector<std::pair<std::string, std::string>>* extra, bool send_body);
  void OnWrite(beast::error_code ec);
  void Linger();
  void LingerTls();
  bool BeginLinger();
  void OnTimer(beast::error_code ec);
  void SetDeadline(Clock::time_point t);
  void ArmTimer();
  void CloseNow() noexcept;
  Responder MakeResponder();
  // The one path every read and write takes, over TLS or the plain socket.
  template <class Buffers, class Handler>
  void AsyncReadSome(const Buffers& buffers, Handler&& handler) {
    if (ssl_) {
      ssl_->async_read_some(buffers, std::forward<Handler>(handler));
    } else {
      stream_.async_read_some(buffers, std::forward<Handler>(handler));
    }
  }
  template <class Buffers, class Handler>
  void AsyncWrite(const Buffers& buffers, Handler&& handler) {
    if (ssl_) {
      net::async_write(*ssl_, buffers, std::forward<Handler>(handler));
    } else {
      net::async_write(stream_, buffers, std::forward<Handler>(handler));
    }
  }

  ServerShared& shared_;
  const ServerOptions& options_;
  Strand strand_;
  beast::tcp_stream stream_;
  std::shared_ptr<net::ssl::context> ssl_context_;     // with TLS: the context at accept
  std::optional<net::ssl::stream<tcp::socket&>> ssl_;  // with TLS: over stream_'s socket
  std::shared_ptr<const TlsInfo> tls_info_;            // with TLS: set after the handshake
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<RequestParser> parser_;
  const std::string remote_;
  // The shared loop whose one thread runs this connection's context, or null (the server's own
  // context, which may have several threads).
  const IoLoop* loop_ = nullptr;

  Phase phase_ = Phase::kIdle;  // kHandshake from the start with TLS
  Clock::time_point deadline_ = Clock::time_point::max();
  uint64_t generation_ = 0;  // bumped per request handed to the handler
  size_t lingered_bytes_ = 0;
  bool first_request_ = true;  // the header deadline of the first request runs from accept
  bool timed_out_ = false;     // the timer cancelled a read/write; its completion must answer
  bool keep_alive_ = true;
  bool http10_ = false;
  bool head_request_ = false;
  bool close_after_write_ = false;
  bool read_pending_ = false;          // a read (into buffer_, or WatchPeer's) has not completed yet
  bool peer_gone_ = false;             // the peer closed while an answer was being written
  CancelToken cancel_;                 // the request with the handler
  std::unique_ptr<char[]> watch_buf_;  // WatchPeer reads here, then appends to buffer_

  std::string head_;           // response head, reused across requests
  std::string response_body_;  // body being written

  // Guarded by ServerShared::mu.
  Connection* prev_ = nullptr;
  Connection* next_ = nullptr;
  bool registered_ = false;
};

}  // namespace continuum::http::internal
