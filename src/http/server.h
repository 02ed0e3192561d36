// An asynchronous HTTP/1.1 server (Boost.Beast on Asio) with explicit limits.
// Handlers may answer from any thread, any time later, by calling the Responder exactly once;
// the connection stays parked (no thread held) until then.
// Thread-safety: Start/Stop from one owner thread; handlers run on the server's I/O threads
// (one request at a time per connection, requests of different connections concurrently when
// io_threads > 1), so a handler must not block: hand slow work to another thread.
// Stop must not be called from a handler.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"
#include "http/message.h"

namespace continuum::tls {
class ServerContext;
struct HandshakeStats;
}  // namespace continuum::tls

namespace continuum::http {

class IoLoop;

struct ServerOptions {
  std::string address = "0.0.0.0";
  uint16_t port = 8000;  // 0: pick a free port (see Server::port)
  int io_threads = 1;
  // Serve on these loops, one per I/O thread (io_threads must then be their number), instead of
  // io_threads threads of the server's own: each connection stays on one loop, so handlers
  // forwarding requests over clients on the same loops (http::Client) never change threads. The
  // loops must outlive the server; Stop must then not be called from one of their threads.
  std::vector<std::shared_ptr<IoLoop>> loops;
  size_t max_body_bytes = 64u << 20;                // larger bodies get 413
  size_t max_header_bytes = 16u << 10;              // larger header blocks get 431
  std::chrono::milliseconds header_timeout{10000};  // time to receive the full header block
  std::chrono::milliseconds body_timeout{30000};    // time to receive the full body
  std::chrono::milliseconds idle_timeout{60000};    // keep-alive connection with no request
  std::chrono::milliseconds write_timeout{30000};
  size_t max_connections = 10000;  // beyond this, new connections are closed at once
  // Connections accepted in one turn when several wait at once (e.g. a burst of TLS clients);
  // the rest are accepted in the next turn, after the loop has run what is ready. At least 1.
  size_t max_accepts_per_wakeup = 64;
  // After an error response (or "Connection: close"), the write side is shut and unread input is
  // drained for up to this long before the socket closes, so the client can read the response
  // instead of receiving a reset.
  std::chrono::milliseconds linger_timeout{1000};
  // Serve HTTPS: every connection does the TLS handshake first (within the context's
  // handshake_timeout, counted against max_connections), on the context current at its accept.
  // Null: plain HTTP.
  std::shared_ptr<tls::ServerContext> tls;
  // Timeouts that are zero or negative are disabled.
};

class Server {
 public:
  virtual ~Server() = default;
  // Binds, listens and starts the I/O threads. Errors: kInvalidArgument (bad address, no
  // handler, io_threads < 1, max_accepts_per_wakeup 0), kUnavailable (open/bind/listen failed, e.g. address
  // in use).
  static StatusOr<std::unique_ptr<Server>> Start(const ServerOptions& options, Handler handler);
  virtual uint16_t port() const = 0;
  // With ServerOptions::tls: the outcomes of this listener's handshakes so far (ok, failed,
  // timeout, resumed), for the metrics to read at scrape time; all zero for plain HTTP.
  virtual std::shared_ptr<const tls::HandshakeStats> tls_stats() const = 0;
  // Stops accepting, closes connections and joins the I/O threads. Idempotent.
  virtual void Stop() = 0;
};

}  // namespace continuum::http
