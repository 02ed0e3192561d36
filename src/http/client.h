// Asynchronous HTTP/1.1 client (Boost.Beast/Asio): what the gateway reaches its nodes with and
// what `continuum run --url` sends its request with, over http:// or https:// (TLS: see
// tls/client_context.h; the certificate is always verified, and a connection that fails the
// check is never used). One io_context, run by the client's own thread, or
// the shared http::IoLoops of an HTTP server's I/O threads; keep-alive connections are pooled per loop
// and scheme, host:port and TLS settings. A call made on one of the client's loops runs there (its callback
// too), so a request forwarded by a handler never changes threads; a call made elsewhere goes to the loops in
// turn. Every call has a deadline and can be cancelled (hedging). Thread-safe: Send and Cancel may be called
// from any thread; callbacks run on the call's I/O thread and must not block.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace continuum::tls {
class ClientContext;
}  // namespace continuum::tls

namespace continuum::http {

class IoLoop;
struct ClientResponse;

struct ClientRequest {
  std::string method = "POST";
  std::string target;  // path and query, appended to the node URL's path prefix
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;
  // For an https:// URL: the TLS settings of this call; null: the client's for the URL (see
  // ClientOptions::tls_by_url and ClientOptions::tls). Ignored for http://.
  std::shared_ptr<const tls::ClientContext> tls{};
  // The most bytes of the answer's body this call accepts; 0: ClientOptions::max_response_bytes.
  // A longer body ends the call with Unavailable ("body limit exceeded").
  size_t max_response_bytes = 0;
  // Set: the body of a 2xx answer is handed to the sink piece by piece as it arrives, with the
  // answer's status and headers (`head`, its body empty), on the call's I/O thread, instead of
  // being kept in ClientResponse::body (other answers' bodies are kept as usual), so a body
  // larger than memory can go to a file. An error the sink returns ends the call with that error.
  std::function<Status(const ClientResponse& head, std::string_view piece)> body_sink{};
};

struct ClientResponse {
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // names lower-cased
  std::string body;
  double duration_ms = 0;

  const std::string* Header(std::string_view lower_name) const;
};

// The answer to a HEAD request has no body, whatever its Content-Length says.
// Ok with a response (any HTTP status), or an error: Unavailable (connect/read/write failure,
// not valid HTTP, a TLS handshake that failed: "TLS handshake with HOST:PORT failed: certificate
// verify failed: certificate has expired"), DeadlineExceeded (timed out), "cancelled" (Unavailable) after
// Cancel, or InvalidArgument for a request that cannot be written safely (see WriteClientRequest; nothing was
// sent).
using ClientCallback = std::function<void(StatusOr<ClientResponse>)>;

class ClientCall {
 public:
  virtual ~ClientCall() = default;
  // Abandons the call; its callback still runs once, with an error. Idempotent.
  virtual void Cancel() = 0;
};

struct ClientOptions {
  size_t max_idle_per_host = 16;
  size_t max_response_bytes = 256u << 20;
  // Run on these loops (the HTTP server's, one per I/O thread, so a forwarded request never
  // changes threads), each with its own connection pool, instead of a thread of the client's own.
  // The client stops them when destroyed: stop everything else that posts to them first.
  std::vector<std::shared_ptr<http::IoLoop>> loops{};
  // TLS settings of https:// calls: per base URL as given to Send (a gateway's nodes with their
  // own), else `tls`; null `tls`: the system trust store, no client certificate (made at the
  // first https:// call).
  std::map<std::string, std::shared_ptr<const tls::ClientContext>, std::less<>> tls_by_url{};
  std::shared_ptr<const tls::ClientContext> tls{};
};

class Client {
 public:
  explicit Client(ClientOptions options = {});
  ~Client();  // stops the I/O thread; pending callbacks run with errors or not at all
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // `base_url` is "http://host:port[/prefix]" or "https://host:port[/prefix]". The callback runs
  // exactly once.
  std::shared_ptr<ClientCall> Send(const std::string& base_url, ClientRequest request,
                                   std::chrono::steady_clock::time_point deadline, ClientCallback callback);

  // The loop (an index below loop_count()) that work started on this thread runs on: the
  // calling thread's own when it runs one of the client's loops, else the next one in turn.
  size_t PickLoop();
  size_t loop_count() const;
  // Runs `fn` on loop `loop` (PickLoop's choice when omitted) after `delay` unless the returned
  // handle is cancelled first.
  std::shared_ptr<ClientCall> After(std::chrono::microseconds delay, std::function<void()> fn);
  std::shared_ptr<ClientCall> After(size_t loop, std::chrono::microseconds delay, std::function<void()> fn);
  // Runs `fn` on loop `loop` (PickLoop's choice when omitted) as soon as possible.
  void Post(std::function<void()> fn);
  void Post(size_t loop, std::function<void()> fn);
  // True on a thread that runs the client's callbacks.
  bool InIoThread() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

struct ParsedUrl {
  std::string host;
  std::string port;    // default 80 for http, 443 for https
  std::string prefix;  // path prefix without trailing '/', may be empty
  bool tls = false;    // https://
};
StatusOr<ParsedUrl> ParseHttpUrl(const std::string& url);

// Makes one call with `send` (Client::Send, or any call with its contract: the callback runs
// exactly once, on `client`'s I/O thread) and waits for its result: for a caller with nothing
// else to do meanwhile, such as a command-line tool. On the client's I/O thread the answer could
// never arrive: there it fails with FailedPrecondition at once and `send` is not called.
StatusOr<ClientResponse> AwaitCall(Client& client,
                                   const std::function<std::shared_ptr<ClientCall>(ClientCallback)>& send);

// Client::Send, waited for (see AwaitCall).
StatusOr<ClientResponse> SendAndWait(Client& client, const std::string& base_url, ClientRequest request,
                                     std::chrono::steady_clock::time_point deadline);

// The bytes `request` to `url` is written as, head and body: the URL's path prefix before the
// target ("/" when it is empty), the headers as given, then Host, keep-alive and Content-Length.
// Nothing that cannot be written safely (a method that is not a token, a control character or
// space in the target, a header name that is not a token, a control character in a header
// value, the Host included) is ever written: such a request fails with InvalidArgument, and
// Client::Send refuses it before any connection is made.
StatusOr<std::string> WriteClientRequest(const ParsedUrl& url, ClientRequest request);

}  // namespace continuum::http
